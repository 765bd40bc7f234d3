/*
 * mod_callpark: what the module's files share (mod_callpark.c says which file does what).
 * Every name the module shares with the library is CP_* in callpark.h.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#ifndef MOD_CALLPARK_H
#define MOD_CALLPARK_H

#include <switch.h>
#include "callpark.h"

struct recall;

/* The module's state (mod_callpark.c). */
struct callpark_globals {
	switch_memory_pool_t *pool;
	switch_mutex_t *mutex;
	const struct cp_engine *engine;
	switch_event_node_t *probe_node;
	switch_event_node_t *reload_node;
	switch_event_node_t *hangup_node;
	switch_event_node_t *execute_node;
	switch_event_node_t *bridge_node;
	int running;
	int busy;	/* threads inside this module's code: parked loops, recalls */
	uint32_t event_count;
	struct recall *recalls;	/* recall attempts under way (under mutex) */
};
extern struct callpark_globals globals;

/* mod_callpark.c */
switch_bool_t enter_module(void);
void leave_module(void);
switch_status_t do_reload(switch_stream_handle_t *stream);

/* callpark_bridge.c */
cp_result cb_bridge(void *ctx, const char *uuid, const char *parked_uuid, cp_joining joining);
cp_result cb_bridge_to_node(void *ctx, const char *uuid, const char *address, const char *destination);
cp_result cb_redirect_to_node(void *ctx, const char *uuid, const char *address, const char *destination);
cp_result cb_ring(void *ctx, const struct cp_ring *ring);
void cancel_recalls(const char *parked_uuid);
void cb_cancel_ring(void *ctx, const char *parked_uuid);
cp_result cb_transfer(void *ctx, const char *uuid, const char *extension, const char *dialplan, const char *context);

/* callpark_notify.c */
void cb_presence(void *ctx, const struct cp_presence *p);
void cb_message(void *ctx, const char *tenant, const char *extension, const char *text);
void cb_sip_notify(void *ctx, const char *tenant, const char *extension, const char *event, const char *content_type,
						  const char *body);
void cb_event(void *ctx, const struct cp_event *e);
bool cb_user_exists(void *ctx, const char *tenant, const char *extension);
size_t cb_contacts(void *ctx, const char *tenant, const char *user, char *buf, size_t len);
void probe_handler(switch_event_t *event);
void remember_lit_lamps(void);
void refresh_lit_lamps(void);

/* callpark_park.c */
void read_leg(switch_core_session_t *into, switch_channel_t *channel, struct cp_leg *leg);
switch_status_t hold(switch_core_session_t *session, const char *music, const char *exit_key, const char *announce);
void read_facts(switch_core_session_t *session, switch_core_session_t *into, struct cp_dial *d, struct cp_leg *transferring,
					   struct cp_leg *partner);
void hold_again(switch_core_session_t *session, const char *exit_key);
void callpark_add_apps(switch_loadable_module_interface_t **module_interface);

/* callpark_life.c */
void hangup_handler(switch_event_t *event);
void left_hold_handler(switch_event_t *event);
void bridge_handler(switch_event_t *event);
void for_each_parked(void (*fn)(switch_core_session_t *session, switch_channel_t *channel, const char *uuid));
void plain_hold(switch_core_session_t *session, switch_channel_t *channel, const char *uuid);
void adopt_one(switch_core_session_t *session, switch_channel_t *channel, const char *uuid);

/* callpark_api.c */
size_t stream_out(switch_stream_handle_t *stream, switch_bool_t keep, char *buf, size_t len);
size_t cb_operate(void *ctx, const char *text, char *buf, size_t len);
char *engine_text(const char *tenant, cp_format format, switch_bool_t status, cp_result *r);
void operate(switch_stream_handle_t *stream, const struct cp_command *command);
void callpark_add_api(switch_loadable_module_interface_t **module_interface);

#endif

/* For Emacs:
 * Local Variables:
 * mode:c
 * indent-tabs-mode:t
 * tab-width:4
 * c-basic-offset:4
 * End:
 * For VIM:
 * vim:set softtabstop=4 shiftwidth=4 tabstop=4 noet:
 */
