/*
 * mod_callpark: call parking for FreeSWITCH.
 *
 * A thin shim: every rule (feature codes, slots, groups, recall, who is told what)
 * lives in libcallpark (include/callpark.h). This module only translates between
 * FreeSWITCH and that C ABI:
 *   - the dialplan application "callpark" hands what was dialed to cp_engine_dial;
 *   - the cp_host callbacks below carry out what the library decides (hold, bridge,
 *     ring, transfer, send back, presence, chat, events, directory look-ups, logs);
 *   - PRESENCE_PROBE and RELOADXML events and the "callpark" API command call in
 *     (the library parses the command: cp_command_parse).
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include <switch.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include "callpark.h"

#define CALLPARK_SYNTAX "<dialed digits>, e.g. ${destination_number}"
/* The names shared with the library and the switch (applications, channel variables,
   the lamps' prefix) are CP_* in callpark.h, from src/lists/names.rs. */

SWITCH_MODULE_LOAD_FUNCTION(mod_callpark_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_callpark_shutdown);
SWITCH_MODULE_DEFINITION(mod_callpark, mod_callpark_load, mod_callpark_shutdown, NULL);

static struct {
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
} globals;

/* Threads that run module code register, so that shutdown waits for them. */
static switch_bool_t enter_module(void)
{
	switch_bool_t ok;
	switch_mutex_lock(globals.mutex);
	ok = globals.running ? SWITCH_TRUE : SWITCH_FALSE;
	if (ok) {
		globals.busy++;
	}
	switch_mutex_unlock(globals.mutex);
	return ok;
}

static void leave_module(void)
{
	switch_mutex_lock(globals.mutex);
	globals.busy--;
	switch_mutex_unlock(globals.mutex);
}

/* ---- configuration ---------------------------------------------------------------- */

static const struct cp_config *parse_config(const char *text, char *errors, size_t len)
{
	const struct cp_config *config = NULL;
	size_t n = 0;

	return cp_config_parse("callpark.conf.xml", text, strlen(text), &config, errors, len, &n) == CP_RESULT_OK ? config : NULL;
}

/* Reads callpark.conf.xml through the switch (pre-processed) and validates it. At load
   (`at_load`), a refused file falls back to the configuration that ran before the last
   unload, if any. */
static const struct cp_config *load_config(switch_stream_handle_t *stream, switch_bool_t at_load)
{
	switch_xml_t xml = NULL, cfg = NULL;
	const struct cp_config *config = NULL;
	char *text = NULL, *running;
	char errors[8192] = "";

	if (!(xml = switch_xml_open_cfg(CP_CONFIGURATION, &cfg, NULL))) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "%s not found: using the defaults\n", CP_CONFIGURATION);
		text = strdup("<configuration name=\"callpark.conf\"/>");
	} else {
		text = switch_xml_toxml(cfg, SWITCH_FALSE);
		switch_xml_free(xml);
	}
	if (!text) {
		return NULL;
	}
	/* The text of the configuration running now is kept in a global variable of the
	   switch: it outlives the module, so that a load after an unload (`reload
	   mod_callpark`) that finds a broken callpark.conf.xml goes on with it instead of
	   leaving every parked call without a module (music, no recall, no pick-up). */
	if ((config = parse_config(text, errors, sizeof(errors)))) {
		switch_core_set_variable(CP_VAR_RUNNING_CONFIGURATION, text);
		free(text);
		return config;
	}
	free(text);
	running = at_load ? switch_core_get_variable_dup(CP_VAR_RUNNING_CONFIGURATION) : NULL;
	if (running && (config = parse_config(running, NULL, 0))) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_CRIT,
						  "callpark.conf.xml refused; loading with the configuration that ran before the unload:\n%s\n", errors);
		free(running);
		return config;
	}
	switch_safe_free(running);
	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "callpark.conf.xml refused, the running configuration stays:\n%s\n", errors);
	if (stream) {
		stream->write_function(stream, "-ERR callpark.conf.xml refused, the running configuration stays:\n%s\n", errors);
	}
	return NULL;
}

static switch_status_t do_reload(switch_stream_handle_t *stream)
{
	const struct cp_config *config = load_config(stream, SWITCH_FALSE);
	cp_result r;

	if (!config) {
		return SWITCH_STATUS_FALSE;
	}
	r = cp_engine_reload(globals.engine, config);
	cp_config_free(config);
	if (stream) {
		stream->write_function(stream, r == CP_RESULT_OK ? "+OK callpark configuration reloaded\n" : "-ERR reload failed\n");
	}
	return r == CP_RESULT_OK ? SWITCH_STATUS_SUCCESS : SWITCH_STATUS_FALSE;
}

/* ---- host callbacks: what the library asks of the switch ----------------------------- */

/* Shows the parked caller on the phone that picked it up. */
static void show_parked_caller(const char *uuid, const char *parked_uuid)
{
	switch_core_session_t *session, *parked;
	switch_core_session_message_t msg = { 0 };
	switch_caller_profile_t *cp;

	if (!(parked = switch_core_session_locate(parked_uuid))) {
		return;
	}
	if ((session = switch_core_session_locate(uuid))) {
		cp = switch_channel_get_caller_profile(switch_core_session_get_channel(parked));
		if (cp) {
			msg.message_id = SWITCH_MESSAGE_INDICATE_DISPLAY;
			msg.from = __FILE__;
			msg.string_array_arg[0] = switch_core_session_strdup(session, switch_str_nil(cp->caller_id_name));
			msg.string_array_arg[1] = switch_core_session_strdup(session, switch_str_nil(cp->caller_id_number));
			switch_core_session_receive_message(session, &msg);
		}
		switch_core_session_rwunlock(session);
	}
	switch_core_session_rwunlock(parked);
}

/* Records on `originator` (CP_VAR_BRIDGE_TO) the leg the uuid_bridge it drives is to
   connect (NULL: none, the bridge failed), for stranded_check() when it hangs up. */
static void mark_bridge(const char *originator, const char *other)
{
	switch_core_session_t *session;

	if ((session = switch_core_session_locate(originator))) {
		switch_channel_set_variable(switch_core_session_get_channel(session), CP_VAR_BRIDGE_TO, other);
		switch_core_session_rwunlock(session);
	}
}

static cp_result cb_bridge(void *ctx, const char *uuid, const char *parked_uuid, cp_joining joining)
{
	switch_core_session_t *session;
	switch_bool_t recall_leg = joining == CP_JOINING_RECALL_LEG;
	switch_status_t status;
	(void) ctx;

	if (!switch_ivr_uuid_exists(parked_uuid)) {
		return CP_RESULT_NOT_FOUND;
	}
	if (!switch_ivr_uuid_exists(uuid)) {
		return CP_RESULT_BRIDGE_FAILED;
	}
	/* The originator of a uuid_bridge drives it on its own thread: the library says
	   which (cp_joining): a retriever drives its own pick-up, a recall leg's bridge is
	   driven by the parked channel. */
	if ((session = switch_core_session_locate(uuid))) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		/* A retriever whose parked caller hangs up during the bridge is refused with its
		   own cause (487), not answered with the 200 of the caller's BYE and left. */
		switch_channel_set_variable(channel, "sip_ignore_remote_cause", "true");
		/* The pick-up is claimed: answer the retriever now, as intercept does. Left to the
		   bridge, the answer waits for uuid_bridge's state machine (20 ms turns of its
		   soft-execute loop) and the phone's 200 OK came 40-60 ms late. A claim that failed
		   never got here: an empty slot still gets its 480, not a 200 and a BYE. */
		if (!recall_leg) {
			switch_channel_answer(channel); /* a no-op for a channel already answered */
		}
		switch_core_session_rwunlock(session);
	}
	/* The originator names the other leg, for stranded_check() when it hangs up. */
	if (recall_leg) {
		mark_bridge(parked_uuid, uuid);
		status = switch_ivr_uuid_bridge(parked_uuid, uuid);
	} else {
		mark_bridge(uuid, parked_uuid);
		status = switch_ivr_uuid_bridge(uuid, parked_uuid);
	}
	if (status != SWITCH_STATUS_SUCCESS) {
		mark_bridge(recall_leg ? parked_uuid : uuid, NULL);
		return switch_ivr_uuid_exists(parked_uuid) ? CP_RESULT_BRIDGE_FAILED : CP_RESULT_NOT_FOUND;
	}
	show_parked_caller(uuid, parked_uuid);
	return CP_RESULT_OK;
}

/* A retriever here for a call another node holds (a park shared on Redis): a call to
   `destination` (callpark-handover-<token>) at that node's SIP address, through the
   retriever's own SIP profile, bridged to the retriever once answered. The holding node
   answers it by bridging it to the parked caller. */
static cp_result cb_bridge_to_node(void *ctx, const char *uuid, const char *address, const char *destination)
{
	switch_core_session_t *session, *peer = NULL;
	switch_channel_t *channel;
	switch_call_cause_t cause = SWITCH_CAUSE_NONE;
	const char *profile;
	char *dialstr;
	cp_result r = CP_RESULT_BRIDGE_FAILED;
	(void) ctx;

	if (!(session = switch_core_session_locate(uuid))) {
		return CP_RESULT_BRIDGE_FAILED;
	}
	channel = switch_core_session_get_channel(session);
	profile = switch_channel_get_variable(channel, "sofia_profile_name");
	/* As in cb_bridge: a caller gone during the bridge refuses the retriever with its own cause. */
	switch_channel_set_variable(channel, "sip_ignore_remote_cause", "true");
	dialstr = switch_core_session_sprintf(session, "{ignore_early_media=true," CP_VAR_HANDOVER "=true}sofia/%s/%s@%s",
										  zstr(profile) ? "internal" : profile, destination, address);
	if (switch_ivr_originate(session, &peer, &cause, dialstr, 10, NULL, NULL, NULL, NULL, NULL, SOF_NONE, NULL, NULL) ==
			SWITCH_STATUS_SUCCESS &&
		peer) {
		/* Answered once the holding node took the call, as in cb_bridge. */
		switch_channel_answer(channel);
		mark_bridge(uuid, switch_core_session_get_uuid(peer));
		if (switch_ivr_uuid_bridge(uuid, switch_core_session_get_uuid(peer)) == SWITCH_STATUS_SUCCESS) {
			r = CP_RESULT_OK;
		} else {
			mark_bridge(uuid, NULL);
			switch_channel_hangup(switch_core_session_get_channel(peer), SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE);
		}
		switch_core_session_rwunlock(peer);
	} else {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_WARNING, "callpark: %s to the holding node failed: %s\n",
						  dialstr, switch_channel_cause2str(cause));
	}
	switch_core_session_rwunlock(session);
	return r;
}

/* A retriever here for a call another node holds, with `cross-node-pickup` `redirect`:
   a 302 to `destination` at that node's SIP address, which the phone calls itself; the
   switch ends this call with the redirect. The holding node takes the phone's call. */
static cp_result cb_redirect_to_node(void *ctx, const char *uuid, const char *address, const char *destination)
{
	switch_core_session_t *session;
	switch_channel_t *channel;
	switch_core_session_message_t msg = { 0 };
	cp_result r = CP_RESULT_BRIDGE_FAILED;
	(void) ctx;

	if (!(session = switch_core_session_locate(uuid))) {
		return CP_RESULT_BRIDGE_FAILED;
	}
	channel = switch_core_session_get_channel(session);
	/* A 302 is a final answer: a call answered already (a dialplan that answers before
	   callpark) is bridged to the node instead; the redirect's token is good for that. */
	if (switch_channel_test_flag(channel, CF_ANSWERED)) {
		switch_core_session_rwunlock(session);
		return cb_bridge_to_node(ctx, uuid, address, destination);
	}
	if (switch_channel_up_nosig(channel)) {
		msg.from = __FILE__;
		/* In <>: mod_sofia adds a display name "unknown" to a bare URI. */
		msg.string_arg = switch_core_session_sprintf(session, "<sip:%s@%s>", destination, address);
		msg.message_id = SWITCH_MESSAGE_INDICATE_REDIRECT;
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_INFO, "callpark: %s redirected to %s\n", uuid,
						  msg.string_arg);
		/* mod_sofia sends the 302 and hangs the channel up (the core then answers the
		   message with a failure): the channel ended is the redirect done. */
		switch_core_session_receive_message(session, &msg);
		if (switch_channel_down_nosig(channel)) {
			r = CP_RESULT_OK;
		}
	}
	switch_core_session_rwunlock(session);
	return r;
}

struct recall {
	switch_memory_pool_t *pool;
	struct recall *next;
	/* Set by cb_cancel_ring: the originate gives up, even before its leg exists. */
	switch_call_cause_t cancel_cause;
	char *parked_uuid;
	char *dialstr;
	char *caller_number;
	char *caller_name;
	uint32_t seconds;
	uint32_t attempt;
};

/* One recall attempt: rings the user's devices; the library decides what an answer means. */
static void *SWITCH_THREAD_FUNC recall_thread(switch_thread_t *thread, void *obj)
{
	struct recall *rc = obj;
	switch_memory_pool_t *pool = rc->pool;
	switch_core_session_t *peer = NULL;
	switch_call_cause_t cause = SWITCH_CAUSE_NONE;
	cp_result r;
	(void) thread;

#ifdef __linux__
	/* Started from the library's timer thread, whose name it inherited; the switch's
	   session threads started from here inherit ours. */
	prctl(PR_SET_NAME, "cp-recall", 0, 0, 0);
#endif
	if (switch_ivr_originate(NULL, &peer, &cause, rc->dialstr, rc->seconds + 1, NULL, rc->caller_name, rc->caller_number, NULL,
							 NULL, SOF_NONE, &rc->cancel_cause, NULL) == SWITCH_STATUS_SUCCESS && peer) {
		r = cp_engine_recall_answered(globals.engine, rc->parked_uuid, rc->attempt, switch_core_session_get_uuid(peer));
		if (r != CP_RESULT_OK) {
			switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(peer), SWITCH_LOG_INFO, "recall of %s answered too late (%u)\n",
							  rc->parked_uuid, (unsigned) r);
			switch_channel_hangup(switch_core_session_get_channel(peer), SWITCH_CAUSE_LOSE_RACE);
		}
		switch_core_session_rwunlock(peer);
	} else {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_INFO, "recall of %s not answered: %s\n", rc->parked_uuid,
						  switch_channel_cause2str(cause));
		cp_engine_recall_failed(globals.engine, rc->parked_uuid, rc->attempt);
	}
	switch_mutex_lock(globals.mutex);
	for (struct recall **p = &globals.recalls; *p; p = &(*p)->next) {
		if (*p == rc) {
			*p = rc->next;
			break;
		}
	}
	switch_mutex_unlock(globals.mutex);
	switch_core_destroy_memory_pool(&pool);
	leave_module();
	return NULL;
}

static cp_result cb_ring(void *ctx, const struct cp_ring *ring)
{
	switch_memory_pool_t *pool = NULL;
	switch_threadattr_t *attr = NULL;
	switch_thread_t *thread;
	struct recall *rc;
	(void) ctx;

	if (!enter_module()) {
		return CP_RESULT_HOST_FAILED;
	}
	switch_core_new_memory_pool(&pool);
	rc = switch_core_alloc(pool, sizeof(*rc));
	rc->pool = pool;
	rc->parked_uuid = switch_core_strdup(pool, ring->parked_uuid);
	rc->caller_number = switch_core_strdup(pool, ring->caller_number);
	rc->caller_name = switch_core_strdup(pool, ring->caller_name);
	rc->seconds = ring->seconds;
	rc->attempt = ring->attempt;
	/* The library passes a user id (letters, digits, +-_.), a checked domain and an
	   Alert-Info without commas or braces. */
	rc->dialstr = switch_core_sprintf(pool, "{%s=%s," CP_VAR_RECALL "=true," CP_VAR_RECALL_ATTEMPT "=%u,ignore_early_media=true%s%s}user/%s@%s",
									  CP_VAR_RECALL_FOR, ring->parked_uuid, (unsigned) ring->attempt,
									  zstr(ring->alert_info) ? "" : ",alert_info=", switch_str_nil(ring->alert_info), ring->extension,
									  ring->tenant);
	switch_threadattr_create(&attr, pool);
	switch_threadattr_detach_set(attr, 1);
	switch_threadattr_stacksize_set(attr, SWITCH_THREAD_STACKSIZE);
	switch_mutex_lock(globals.mutex);
	rc->next = globals.recalls;
	globals.recalls = rc;
	if (switch_thread_create(&thread, attr, recall_thread, rc, pool) != SWITCH_STATUS_SUCCESS) {
		globals.recalls = rc->next;
		switch_mutex_unlock(globals.mutex);
		switch_core_destroy_memory_pool(&pool);
		leave_module();
		return CP_RESULT_HOST_FAILED;
	}
	switch_mutex_unlock(globals.mutex);
	return CP_RESULT_OK;
}

/* Sets the cancel cause of the recall attempts under way of `parked_uuid` (of all when
   NULL): an originate whose leg the switch is still creating gives up. */
static void cancel_recalls(const char *parked_uuid)
{
	struct recall *rc;

	switch_mutex_lock(globals.mutex);
	for (rc = globals.recalls; rc; rc = rc->next) {
		if (!parked_uuid || !strcmp(rc->parked_uuid, parked_uuid)) {
			rc->cancel_cause = SWITCH_CAUSE_ORIGINATOR_CANCEL;
		}
	}
	switch_mutex_unlock(globals.mutex);
}

/* Stops every recall attempt of a parked call: the originate of one whose leg the switch
   is still creating gives up (its cancel cause), and the legs that ring are hung up. */
static void cb_cancel_ring(void *ctx, const char *parked_uuid)
{
	(void) ctx;
	cancel_recalls(parked_uuid);
	switch_core_session_hupall_matching_var_ans(CP_VAR_RECALL_FOR, parked_uuid, SWITCH_CAUSE_ORIGINATOR_CANCEL, SHT_UNANSWERED);
}

static cp_result cb_transfer(void *ctx, const char *uuid, const char *extension, const char *dialplan, const char *context)
{
	switch_core_session_t *session;
	switch_status_t status;
	(void) ctx;

	if (!(session = switch_core_session_locate(uuid))) {
		return CP_RESULT_NOT_FOUND;
	}
	status = switch_ivr_session_transfer(session, extension, zstr(dialplan) ? NULL : dialplan, zstr(context) ? NULL : context);
	switch_core_session_rwunlock(session);
	return status == SWITCH_STATUS_SUCCESS ? CP_RESULT_OK : CP_RESULT_HOST_FAILED;
}

/* A lamp as PRESENCE_IN. mod_sofia writes the caller's name and number into the lamp's
   dialog-info XML as they are: the library hands them XML-escaped (caller_*_xml), so
   that a name such as "AT&T" leaves the XML valid. */
static void cb_presence(void *ctx, const struct cp_presence *p)
{
	switch_event_t *event;
	/* The library's: early for a recall, and for a parked call where lamp-state is early. */
	const char *state = p->answer_state;
	(void) ctx;

	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "callpark lamp " CP_BLF_PREFIX "%s@%s: %s, %u parked, oldest %s%s%s\n", p->target,
					  p->tenant, state, (unsigned) p->count, p->oldest_uuid, p->subscriber ? ", for " : "", switch_str_nil(p->subscriber));
	if (switch_event_create(&event, SWITCH_EVENT_PRESENCE_IN) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "proto", CP_BLF_PROTO);
	switch_event_add_header(event, SWITCH_STACK_BOTTOM, "login", CP_BLF_PREFIX "%s", p->target);
	switch_event_add_header(event, SWITCH_STACK_BOTTOM, "from", CP_BLF_PREFIX "%s@%s", p->target, p->tenant);
	/* mod_sofia strips "park+" and, for a unique-id that is no live channel, mixes in
	   the dialogs of the user of the same number; so: the parked channel's own uuid
	   while busy, and no dialog at all (idle) when empty. */
	if (p->lamp == CP_LAMP_EMPTY) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "force-status", p->status);
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "rpid", "unknown");
	} else {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "unique-id", p->oldest_uuid);
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "force-status", p->status);
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "rpid", "active");
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "channel-state", "CS_EXECUTE");
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Caller-Caller-ID-Number", p->caller_number_xml);
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Caller-Caller-ID-Name", p->caller_name_xml);
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "event_type", "presence");
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "alt_event_type", "dialog");
	switch_event_add_header(event, SWITCH_STACK_BOTTOM, "event_count", "%u", (unsigned) globals.event_count++);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "answer-state", state);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "presence-call-direction", "outbound");
	if (p->subscriber) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "call-id", p->subscriber);
	}
	/* Delivered on this thread: switch_event_fire hands events to several dispatch
	   threads, which can swap two quick changes of one lamp and leave it lit. The
	   library calls this for one lamp change after another, in order. */
	switch_event_deliver(&event);
}

/* Calls `send(profile, data)` once for every SIP profile where `extension`@`tenant` is
   registered; returns how many, after logging why when none (`what` names the notice).
   A notice is addressed through the profile by name: by the domain alone sofia finds a
   profile only where it aliases the domain, and admins with one profile per network often
   have <domain name="all" alias="false"/>. */
static int for_each_profile(const char *tenant, const char *extension, const char *what, void (*send)(const char *profile, void *data),
							void *data)
{
	switch_stream_handle_t contacts = { 0 };
	char query[512], seen[1024] = ",";
	const char *c;
	int sent = 0;

	switch_snprintf(query, sizeof(query), "*/%s@%s", extension, tenant);
	SWITCH_STANDARD_STREAM(contacts);
	if (switch_api_execute("sofia_contact", query, NULL, &contacts) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_WARNING, "%s to %s@%s not delivered: sofia_contact failed\n", what, extension,
						  tenant);
		switch_safe_free(contacts.data);
		return 0;
	}
	/* "sofia/<profile>/<contact>,sofia/<profile>/<contact>,...", or "error/user_not_registered". */
	for (c = (const char *) contacts.data; c && (c = strstr(c, "sofia/")); c++) {
		const char *name = c + 6, *end = strchr(name, '/');
		char profile[256], key[260];

		if ((c != contacts.data && c[-1] != ',') || !end || end == name || (size_t) (end - name) >= sizeof(profile)) {
			continue;
		}
		switch_copy_string(profile, name, (end - name) + 1);
		switch_snprintf(key, sizeof(key), ",%s,", profile);
		if (strstr(seen, key)) {
			continue;
		}
		switch_snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s,", profile);
		send(profile, data);
		sent++;
	}
	if (!sent) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_INFO, "%s to %s@%s not delivered: %s\n", what, extension, tenant,
						  zstr((char *) contacts.data) ? "no registration" : (char *) contacts.data);
	}
	switch_safe_free(contacts.data);
	return sent;
}

struct notice {
	const char *tenant, *extension, *text;
	const char *event, *content_type;
};

static void send_message(const char *profile, void *data)
{
	struct notice *n = data;
	char from[512], to[768];

	switch_snprintf(from, sizeof(from), CP_BLF_PREFIX "%s@%s", n->extension, n->tenant);
	switch_snprintf(to, sizeof(to), "%s/%s@%s", profile, n->extension, n->tenant);
	switch_core_chat_send_args("sip", CP_BLF_PROTO, from, to, "Call parked", n->text, "text/plain", NULL, SWITCH_FALSE);
}

/* A text message to every SIP profile where the extension is registered. */
static void cb_message(void *ctx, const char *tenant, const char *extension, const char *text)
{
	struct notice n = { tenant, extension, text, NULL, NULL };
	(void) ctx;
	for_each_profile(tenant, extension, "park notice", send_message, &n);
}

/* mod_sofia sends a NOTIFY event to every registration of user@host on the profile. */
static void send_notify(const char *profile, void *data)
{
	struct notice *n = data;
	switch_event_t *event;

	if (switch_event_create(&event, SWITCH_EVENT_NOTIFY) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "profile", profile);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "user", n->extension);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "host", n->tenant);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "event-string", n->event);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "content-type", n->content_type);
	switch_event_add_body(event, "%s", n->text);
	switch_event_fire(&event);
}

/* A visual park notice (the library wrote the body) to every registered device. */
static void cb_sip_notify(void *ctx, const char *tenant, const char *extension, const char *event, const char *content_type,
						  const char *body)
{
	struct notice n = { tenant, extension, body, event, content_type };
	(void) ctx;
	for_each_profile(tenant, extension, "visual park notice", send_notify, &n);
}

/* The channel itself remembers that it is parked, where and by whom: the hang-up
   handler and the next load (adopt_one) read it back. */
static void remember_park(switch_core_session_t *session, const struct cp_event *e)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);

	switch_channel_set_variable(channel, CP_VAR_SLOT_TENANT, e->tenant);
	switch_channel_set_variable(channel, CP_VAR_SLOT, e->extension);
	switch_channel_set_variable(channel, CP_VAR_PARKING_USER, e->parking_user);
	/* The caller as the park shows it, for a caller put back into the park (stranded_thread). */
	switch_channel_set_variable(channel, CP_VAR_CALLER_NUMBER, e->caller_number);
	switch_channel_set_variable(channel, CP_VAR_CALLER_NAME, e->caller_name);
	/* An adopted call keeps the park time it already had. */
	if (!e->adopted || zstr(switch_channel_get_variable(channel, CP_VAR_PARKED_EPOCH))) {
		switch_channel_set_variable_printf(channel, CP_VAR_PARKED_EPOCH, "%" SWITCH_TIME_T_FMT, switch_epoch_time_now(NULL));
	}
	switch_channel_set_variable(channel, CP_VAR_PARKED, "true");
}

static void cb_event(void *ctx, const struct cp_event *e)
{
	switch_event_t *event;
	switch_core_session_t *session;
	(void) ctx;

	if (switch_event_create_subclass(&event, SWITCH_EVENT_CUSTOM, CP_EVENT_SUBCLASS) != SWITCH_STATUS_SUCCESS) {
		return;
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Action", e->action_name);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Tenant", e->tenant);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Extension", e->extension);
	if (e->group) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Group", e->group);
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-UUID", e->uuid);
	if (e->other_uuid) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Other-UUID", e->other_uuid);
	}
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Parking-User", e->parking_user);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Caller-Number", e->caller_number);
	switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Caller-Name", e->caller_name);
	switch_event_add_header(event, SWITCH_STACK_BOTTOM, "Callpark-Recall-Attempt", "%u", (unsigned) e->attempt);
	if (e->detail) {
		switch_event_add_header_string(event, SWITCH_STACK_BOTTOM, "Callpark-Detail", e->detail);
	}
	if ((session = switch_core_session_locate(e->uuid))) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		if (e->action == CP_EVENT_ACTION_PARKED) {
			remember_park(session, e);
		} else if (e->ends_park) {
			const char *was = switch_channel_get_variable(channel, CP_VAR_SAVED_TERMINATORS);
			switch_channel_set_variable(channel, CP_VAR_PARKED, NULL);
			/* For a caller put back into the park (stranded_thread): its key as it was. */
			switch_channel_set_variable(channel, CP_VAR_PARKED_EXIT_KEY, switch_channel_get_variable(channel, CP_VAR_EXIT_KEY));
			if (was) {
				/* The exit key was the channel's playback terminator only while parked. */
				switch_channel_set_variable(channel, SWITCH_PLAYBACK_TERMINATORS_VARIABLE, switch_core_session_strdup(session, was));
				switch_channel_set_variable(channel, CP_VAR_SAVED_TERMINATORS, NULL);
				switch_channel_set_variable(channel, CP_VAR_EXIT_KEY, NULL);
			}
		}
		if (e->channel_data) {
			switch_channel_event_set_data(channel, event);
		}
		switch_core_session_rwunlock(session);
	}
	switch_event_fire(&event);
}

static bool cb_user_exists(void *ctx, const char *tenant, const char *extension)
{
	switch_xml_t user = NULL;
	(void) ctx;

	if (switch_xml_locate_user_merged("id", extension, tenant, NULL, &user, NULL) != SWITCH_STATUS_SUCCESS) {
		return false;
	}
	switch_xml_free(user);
	return true;
}

/* What a stream holds (`keep`: else nothing) into `buf` of `len` bytes, cut if need be
   and NUL-terminated; its whole length (0: nothing). The stream's text is freed. */
static size_t stream_out(switch_stream_handle_t *stream, switch_bool_t keep, char *buf, size_t len)
{
	size_t n = 0;

	if (keep && stream->data) {
		n = strlen((char *) stream->data);
		if (len) {
			switch_copy_string(buf, (char *) stream->data, len);
		}
	} else if (len) {
		buf[0] = '\0';
	}
	switch_safe_free(stream->data);
	return n;
}

/* The contacts user@tenant registered on any profile, as sofia_contact lists them
   ("sofia/<profile>/sip:...", several joined by ','); the library matches them. */
static size_t cb_contacts(void *ctx, const char *tenant, const char *user, char *buf, size_t len)
{
	switch_stream_handle_t stream = { 0 };
	char *arg = switch_mprintf("*/%s@%s", user, tenant);
	switch_bool_t found;
	size_t n;
	(void) ctx;

	SWITCH_STANDARD_STREAM(stream);
	found = arg && switch_api_execute("sofia_contact", arg, NULL, &stream) == SWITCH_STATUS_SUCCESS && stream.data &&
			strncmp((char *) stream.data, "error/", 6);
	n = stream_out(&stream, found, buf, len);
	switch_safe_free(arg);
	return n;
}

static void operate(switch_stream_handle_t *stream, const struct cp_command *command);

/* Another node of a shared park sent an operator's command for a call held here (the
   engine's own thread calls this): carried out as if typed here, never sent on. */
static size_t cb_operate(void *ctx, const char *text, char *buf, size_t len)
{
	struct cp_command command;
	char err[CP_COMMAND_MESSAGE_SIZE] = "";
	switch_stream_handle_t stream = { 0 };
	(void) ctx;

	SWITCH_STANDARD_STREAM(stream);
	if (cp_command_parse(text, &command, err, sizeof(err), NULL) == CP_RESULT_OK) {
		command.local = true;
		operate(&stream, &command);
	} else {
		stream.write_function(&stream, "-ERR %s\n", err);
	}
	return stream_out(&stream, SWITCH_TRUE, buf, len);
}

static void cb_log(void *ctx, cp_log_level level, const char *message)
{
	(void) ctx;
	switch_log_printf(SWITCH_CHANNEL_LOG, (switch_log_level_t) level, "%s\n", message);
}

/* ---- the dialplan application ----------------------------------------------------------- */

/* A variable of `channel`: as it is when `into` is NULL (the calling thread's own
   channel), else copied under the channel's lock into `into`'s pool (another channel,
   whose thread may set it meanwhile). */
static const char *leg_var(switch_core_session_t *into, switch_channel_t *channel, const char *name)
{
	const char *v;

	if (!into) {
		return switch_channel_get_variable(channel, name);
	}
	v = switch_channel_get_variable_dup(channel, name, SWITCH_TRUE, -1);
	return v ? switch_core_session_strdup(into, v) : NULL;
}

/* A variable the channel itself has, copied into `into`'s pool (the channel's own when
   NULL): never the switch's global of that name, which switch_channel_get_variable falls
   back to (vanilla vars.xml sets a global domain_name, which is no record of this call). */
static const char *own_var(switch_core_session_t *into, switch_channel_t *channel, const char *name)
{
	switch_event_header_t *hi = switch_channel_variable_first(channel);
	const char *v = NULL;

	if (!hi) {
		return NULL;
	}
	for (; hi; hi = hi->next) {
		if (!strcasecmp(hi->name, name)) {
			v = switch_core_session_strdup(into ? into : switch_channel_get_session(channel), hi->value);
			break;
		}
	}
	switch_channel_variable_last(channel);
	return v;
}

/* What the switch knows of a leg, as it has it: the library decides who is who. */
static void read_leg(switch_core_session_t *into, switch_channel_t *channel, struct cp_leg *leg)
{
	leg->authorized = switch_true(own_var(into, channel, "sip_authorized"));
	leg->user_name = own_var(into, channel, "user_name");
	leg->domain_name = own_var(into, channel, "domain_name");
	leg->outbound = switch_channel_direction(channel) == SWITCH_CALL_DIRECTION_OUTBOUND;
	leg->dialed_user = own_var(into, channel, "dialed_user");
	leg->dialed_domain = own_var(into, channel, "dialed_domain");
	leg->contact = leg->outbound ? own_var(into, channel, "sip_req_uri") : NULL;
}

static switch_bool_t read_other_leg(switch_core_session_t *session, const char *uuid, struct cp_leg *leg)
{
	switch_core_session_t *other;

	if (zstr(uuid) || !(other = switch_core_session_locate(uuid))) {
		return SWITCH_FALSE;
	}
	read_leg(session, switch_core_session_get_channel(other), leg);
	switch_core_session_rwunlock(other);
	return SWITCH_TRUE;
}

/* The facts of the last bridge partner as they were recorded on this channel at the
   bridge (record_partner), for a partner that has hung up since. */
static switch_bool_t recorded_partner(switch_core_session_t *into, switch_channel_t *channel, const char *uuid, struct cp_leg *leg)
{
	const char *rec = leg_var(into, channel, CP_VAR_PARTNER_UUID);

	if (zstr(uuid) || zstr(rec) || strcmp(uuid, rec)) {
		return SWITCH_FALSE;
	}
	leg->authorized = switch_true(leg_var(into, channel, CP_VAR_PARTNER_AUTHORIZED));
	leg->user_name = leg_var(into, channel, CP_VAR_PARTNER_USER_NAME);
	leg->domain_name = leg_var(into, channel, CP_VAR_PARTNER_DOMAIN_NAME);
	leg->outbound = switch_true(leg_var(into, channel, CP_VAR_PARTNER_OUTBOUND));
	leg->dialed_user = leg_var(into, channel, CP_VAR_PARTNER_DIALED_USER);
	leg->dialed_domain = leg_var(into, channel, CP_VAR_PARTNER_DIALED_DOMAIN);
	leg->contact = leg_var(into, channel, CP_VAR_PARTNER_CONTACT);
	return SWITCH_TRUE;
}

/* The node of the dialplan extension that is running the callpark application, when it
   runs from that extension's own loop on the channel's thread; else NULL (an ESL
   execute, an execute_extension, another thread). */
static switch_caller_application_t *running_node(switch_core_session_t *session)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_caller_extension_t *ext = switch_channel_get_caller_extension(channel);
	const char *running_app = switch_channel_get_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE);
	switch_caller_application_t *a;

	if (!ext || !switch_core_session_in_thread(session) || switch_channel_get_state(channel) != CS_EXECUTE || zstr(running_app) ||
		strcasecmp(running_app, CP_APP_CALLPARK)) {
		return NULL;
	}
	/* The loop moved current_application on before running this one. */
	for (a = ext->applications; a; a = a->next) {
		if (a->next == ext->current_application) {
			return !zstr(a->application_name) && !strcasecmp(a->application_name, CP_APP_CALLPARK) ? a : NULL;
		}
	}
	return NULL;
}

/* On `session`'s own thread, inside the callpark application run by the dialplan
   extension's own loop: makes the hold's steps what the channel runs next, in place of
   the rest of the extension, as a transfer to an inline extension would, without the
   transfer: no new caller profile, no dialplan run, no state changes (each an event with
   the channel's data and an SQL update in the switch; bench/census.py counts them), and
   none of the call's transfers (max_session_transfers) spent. The switch's own calls do
   it: a new caller extension on the channel (switch_channel_set_caller_extension, as
   mod_dptools does for a picked-up leg) and CF_RESET, on which the extension loop starts
   over with the channel's extension (switch_core_standard_on_execute, 1.10 and master).
   Elsewhere (another thread, an ESL execute, an execute_extension, whose own loop would
   run the rest of its extension first) it changes nothing and says so. `running` is
   running_node() as it was when the callpark application decided to hold (before
   answering the call: answering runs execute_on_answer applications, which move the
   loop on); the channel still being there says nothing moved it meanwhile. */
static switch_bool_t run_next(switch_core_session_t *session, switch_caller_application_t *running, const struct cp_hold_step *steps, size_t n)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_caller_extension_t *ext = switch_channel_get_caller_extension(channel);
	switch_caller_extension_t *next;
	switch_caller_profile_t *cp = switch_channel_get_caller_profile(channel);
	switch_caller_application_t *a;
	char key[1024];
	size_t i, added = 0;

	if (!running || !ext || !cp || n == 0 || running->next != ext->current_application || switch_channel_get_state(channel) != CS_EXECUTE) {
		return SWITCH_FALSE;
	}
	if (!(next = switch_caller_extension_new(session, ext->extension_name, ext->extension_number))) {
		return SWITCH_FALSE;
	}
	for (i = 0; i < n; i++) {
		switch_caller_extension_add_application(session, next, steps[i].app, steps[i].data);
	}
	/* The switch refuses some data (a warning in its log): the whole plan or the transfer. */
	for (a = next->applications; a; a = a->next) {
		added++;
	}
	if (added != n) {
		return SWITCH_FALSE;
	}
	switch_channel_set_caller_extension(channel, next);
	switch_channel_set_flag(channel, CF_RESET);
	/* For cp_hold_runs(): the hold runs in the dialplan that parked the call, not an inline one. */
	cp_hold_profile_key(cp->profile_index, cp->dialplan, cp->context, cp->destination_number, key, sizeof(key));
	switch_channel_set_variable(channel, CP_VAR_HELD_IN_PROFILE, key);
	return SWITCH_TRUE;
}

/* Hands a parked channel to the switch's own endless_playback, so that no thread of
   this module holds it: parked calls outlive an unload and are adopted on the next load.
   A music that cannot be played falls back to silence, never to a dropped call. */
static switch_status_t hold(switch_core_session_t *session, const char *music, const char *exit_key, const char *announce)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	/* The library's plan: the announcement, the music, then silence (src/hold.rs). */
	struct cp_hold_plan plan = cp_hold_plan_of(!zstr(announce), !zstr(exit_key));
	/* Only the hold without an exit key runs in place (run_next). */
	switch_caller_application_t *running = zstr(exit_key) ? running_node(session) : NULL;

	switch_channel_set_variable(channel, CP_VAR_HOLD_MUSIC, zstr(music) ? CP_SILENCE : music);
	switch_channel_set_variable(channel, CP_VAR_EXIT_KEY, zstr(exit_key) ? NULL : exit_key);
	switch_channel_set_variable(channel, CP_VAR_ANNOUNCE, zstr(announce) ? NULL : announce);
	/* playback sets it when it played a file: after-music reads how long the music ran. */
	switch_channel_set_variable(channel, "playback_ms", NULL);
	/* Picked up later, the call ends when the one who picked it up hangs up, instead of
	   going on with the rest of the hold dialplan. */
	switch_channel_set_variable(channel, SWITCH_HANGUP_AFTER_BRIDGE_VARIABLE, "true");
	switch_channel_set_variable(channel, SWITCH_PARK_AFTER_BRIDGE_VARIABLE, NULL);
	switch_channel_set_variable(channel, SWITCH_TRANSFER_AFTER_BRIDGE_VARIABLE, NULL);
	switch_channel_answer(channel);
	if (!zstr(exit_key)) {
		/* The exit key stops playback (and only it: playback_terminators, put back as
		   they were when the call leaves the park), and callpark:after-music asks the
		   library; music that ended plays again. */
		if (!switch_channel_get_variable(channel, CP_VAR_SAVED_TERMINATORS)) {
			const char *was = switch_channel_get_variable(channel, SWITCH_PLAYBACK_TERMINATORS_VARIABLE);
			switch_channel_set_variable(channel, CP_VAR_SAVED_TERMINATORS, zstr(was) ? "*" : was);
		}
		switch_channel_set_variable(channel, SWITCH_PLAYBACK_TERMINATORS_VARIABLE, exit_key);
	} else if (run_next(session, running, plan.steps, plan.n)) {
		return SWITCH_STATUS_SUCCESS;
	}
	/* Variables expand after the inline dialplan is split, so the music may hold commas. */
	return switch_ivr_session_transfer(session, switch_core_session_strdup(session, plan.inline_text), CP_INLINE, NULL);
}

/* Sends a channel back to a user of a tenant, announcing why first. If the user does
   not take it (busy, no answer, not registered), the bridge fails and the channel goes on
   to the callpark application once more, which asks the library for the way back into
   the park; a conversation that did happen ends the call when it ends. */
static void send_back(switch_core_session_t *session, const struct cp_dial_result *res)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	char text[256];

	/* For the dialplan and ESL: where it goes and why. The prompt goes through a
	   variable, which expands after the inline dialplan is split: it may hold commas. */
	switch_channel_set_variable(channel, CP_VAR_SEND_BACK_USER, res->user);
	switch_channel_set_variable(channel, CP_VAR_SEND_BACK_DOMAIN, res->tenant);
	cp_result_message(res->code, text, sizeof(text), NULL);
	switch_channel_set_variable(channel, CP_VAR_RESULT_TEXT, text);
	switch_channel_set_variable(channel, CP_VAR_SEND_BACK_PROMPT, res->prompt);
	switch_ivr_session_transfer(session,
								switch_core_session_sprintf(session,
															"set:continue_on_fail=true,set:hangup_after_bridge=true,playback:${" CP_VAR_SEND_BACK_PROMPT "},"
															"bridge:user/%s@%s," CP_APP_CALLPARK ":" CP_BACK_TO_PARK,
															res->user, res->tenant),
								CP_INLINE, NULL);
}

/* What the switch knows of `session`'s channel, as it has it, into `d` (its legs into
   `transferring` and `partner`): the library decides who is who. `into` is NULL on the
   channel's own thread, else the session itself (read from another thread: each
   variable is copied under the channel's lock). */
static void read_facts(switch_core_session_t *session, switch_core_session_t *into, struct cp_dial *d, struct cp_leg *transferring,
					   struct cp_leg *partner)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	switch_caller_profile_t *cp = switch_channel_get_caller_profile(channel);
	const char *last_partner = leg_var(into, channel, SWITCH_LAST_BRIDGE_VARIABLE);
	const char *disposition;

	d->uuid = switch_core_session_get_uuid(session);
	read_leg(into, channel, &d->channel);
	d->blind_transfer_uuid = leg_var(into, channel, "blind_transfer_uuid");
	if (read_other_leg(session, d->blind_transfer_uuid, transferring)) {
		d->transferring_leg = transferring;
	}
	if (read_other_leg(session, last_partner, partner) || recorded_partner(into, channel, last_partner, partner)) {
		d->bridge_partner = partner;
	}
	d->referred_by = leg_var(into, channel, "sip_h_Referred-By");
	d->network_addr = leg_var(into, channel, "sip_network_ip");
	d->timeout = leg_var(into, channel, CP_VAR_TIMEOUT);
	d->refer_to = leg_var(into, channel, "sip_refer_to");
	d->tenant_override = leg_var(into, channel, CP_VAR_TENANT);
	d->user_override = leg_var(into, channel, CP_VAR_USER);
	d->domain_override = leg_var(into, channel, CP_VAR_DOMAIN);
	d->transferor_override = leg_var(into, channel, CP_VAR_TRANSFEROR);
	d->caller_number = cp ? switch_core_session_strdup(session, switch_str_nil(cp->caller_id_number)) : NULL;
	d->caller_name = cp ? switch_core_session_strdup(session, switch_str_nil(cp->caller_id_name)) : NULL;
	d->music = leg_var(into, channel, CP_VAR_MUSIC);
	if (into) {
		/* switch_channel_get_hold_music hands out the variable as it is: copy it first. */
		const char *music = leg_var(into, channel, SWITCH_TEMP_HOLD_MUSIC_VARIABLE);
		d->hold_music = music ? music : leg_var(into, channel, SWITCH_HOLD_MUSIC_VARIABLE);
	} else {
		d->hold_music = switch_channel_get_hold_music(channel);
	}
	d->sound_empty = leg_var(into, channel, CP_VAR_SOUND_EMPTY);
	d->sound_invalid = leg_var(into, channel, CP_VAR_SOUND_INVALID);
	d->sound_failed = leg_var(into, channel, CP_VAR_SOUND_FAILED);
	disposition = leg_var(into, channel, "originate_disposition");
	d->sent_back_answered = !zstr(disposition) && !strcasecmp(disposition, "SUCCESS");
}

/* Puts a parked channel back on its hold (its music ended, or a key that was not the
   exit key), without spending one of its transfers: FreeSWITCH counts each transfer
   against max_session_transfers (else max_forwards) and hangs up at zero. */
static void hold_again(switch_core_session_t *session, const char *exit_key)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	const char *name = SWITCH_MAX_SESSION_TRANSFERS_VARIABLE;
	const char *left = switch_channel_get_variable(channel, name);

	if (zstr(left)) {
		name = SWITCH_MAX_FORWARDS_VARIABLE;
		left = switch_channel_get_variable(channel, name);
	}
	if (!zstr(left)) {
		switch_channel_set_variable_printf(channel, name, "%d", atoi(left) + 1);
	}
	/* Copies: hold() sets these very variables again. */
	hold(session, switch_core_session_strdup(session, switch_str_nil(switch_channel_get_variable(channel, CP_VAR_HOLD_MUSIC))),
		 exit_key ? switch_core_session_strdup(session, exit_key) : NULL, NULL);
}

/* callpark:after-music, in the hold of a call with an exit key: its playback stopped.
   The library says whether it plays again (cp_engine_music_stopped: the exit key, music
   that ended, music that could not play). While the module unloads, the hold becomes
   the plain endless_playback form, which needs nothing of the module: the call waits
   for the next load. */
static void after_music(switch_core_session_t *session)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	const char *uuid = switch_core_session_get_uuid(session);
	const char *key = switch_channel_get_variable(channel, SWITCH_PLAYBACK_TERMINATOR_USED);
	const char *played = switch_channel_get_variable(channel, "playback_ms");
	const char *exit_key = switch_channel_get_variable(channel, CP_VAR_EXIT_KEY);
	bool again = false;

	switch_channel_set_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE, NULL);
	if (!enter_module()) {
		hold_again(session, NULL);
		return;
	}
	/* The library decides (the exit key, music that ended or could not play). */
	if (cp_engine_music_stopped(globals.engine, uuid, key, zstr(played) ? -1 : (int64_t) atoll(played), &again) != CP_RESULT_OK) {
		again = false;
	}
	if (again && !switch_channel_test_flag(channel, CF_BRIDGED)) {
		hold_again(session, exit_key);
	}
	leave_module();
}

static void run_callpark(switch_core_session_t *session, const char *data);

/* The keys after the meta key (data, or read here: up to 10, # ends them, 3 s for the
   first and 2 s between), then the library's answer: the operator's park of the party
   this leg talks to, which this module carries out as `callpark park` would. */
SWITCH_STANDARD_APP(callpark_one_step_app)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	const char *partner_uuid = switch_channel_get_partner_uuid(channel);
	struct cp_dial d = { 0 };
	struct cp_leg transferring = { 0 }, partner = { 0 };
	struct cp_command command;
	switch_stream_handle_t stream = { 0 };
	char digits[32] = "", text[256];
	char term = 0;
	cp_result r;

	if (zstr(partner_uuid)) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_NOTICE, "callpark: one-step park: this call talks to nobody\n");
		return;
	}
	partner_uuid = switch_core_session_strdup(session, partner_uuid);
	if (!zstr(data)) {
		switch_copy_string(digits, data, sizeof(digits));
	} else {
		switch_ivr_collect_digits_count(session, digits, sizeof(digits), 10, "#", &term, 3000, 2000, 0);
	}
	if (!enter_module()) {
		return;
	}
	read_facts(session, NULL, &d, &transferring, &partner);
	r = cp_engine_one_step(globals.engine, &d, digits, partner_uuid, &command);
	leave_module();
	if (r != CP_RESULT_OK) {
		cp_result_message(r, text, sizeof(text), NULL);
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_NOTICE, "callpark: one-step park \"%s\" refused: %s\n", digits,
						  text);
		return;
	}
	SWITCH_STANDARD_STREAM(stream);
	operate(&stream, &command);
	switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_INFO, "callpark: one-step park \"%s\": %s", digits,
					  stream.data ? (char *) stream.data : "\n");
	switch_safe_free(stream.data);
}

SWITCH_STANDARD_APP(callpark_app)
{
	run_callpark(session, data);
}

SWITCH_STANDARD_APP(callpark_handover_app)
{
	if (zstr(data) || strncmp(data, CP_HANDOVER_PREFIX, strlen(CP_HANDOVER_PREFIX))) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "usage: %s " CP_HANDOVER_PREFIX "<token>\n",
						  CP_APP_HANDOVER);
		switch_channel_hangup(switch_core_session_get_channel(session), SWITCH_CAUSE_UNALLOCATED_NUMBER);
		return;
	}
	run_callpark(session, data);
}

static void run_callpark(switch_core_session_t *session, const char *data)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	struct cp_dial d = { 0 };
	struct cp_leg transferring = { 0 }, partner = { 0 };
	struct cp_dial_result *res = switch_core_session_alloc(session, sizeof(*res));

	if (zstr(data)) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_ERROR, "usage: callpark %s\n", CALLPARK_SYNTAX);
		return;
	}
	if (!strcmp(data, CP_AFTER_MUSIC)) {
		after_music(session);
		return;
	}
	if (!enter_module()) {
		return;
	}
	read_facts(session, NULL, &d, &transferring, &partner);
	d.dialed = data;
	d.back_to_park = !strcmp(data, CP_BACK_TO_PARK);

	/* What a library that cannot answer (a panic, a freed engine) leaves: refused. */
	res->action = CP_ACTION_NONE;
	res->code = CP_RESULT_PANIC;
	res->hangup_cause = SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE;
	switch_snprintf(res->prompt, sizeof(res->prompt), "%s", "ivr/ivr-call_cannot_be_completed_as_dialed.wav");
	cp_engine_dial(globals.engine, &d, res);
	switch_channel_set_variable_printf(channel, CP_VAR_RESULT, "%u", (unsigned) res->code);
	switch (res->action) {
	case CP_ACTION_PARKED:
		/* The hang-up handler keys on callpark_parked. The parked event sets it too, but
		   it may come later, from the thread delivering the lamps; a caller who hung up
		   before this line was missed by the handler, so it is told here. */
		switch_channel_set_variable(channel, CP_VAR_PARKED, "true");
		if (switch_channel_down_nosig(channel)) {
			cp_engine_hangup(globals.engine, switch_core_session_get_uuid(session));
			break;
		}
		hold(session, res->music, res->exit_key, res->announce);
		/* Parked and on its way to the hold: an unload in the moment before the hold
		   starts must not take it for a channel of this module (see BRIDGED below). */
		switch_channel_set_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE, NULL);
		break;
	case CP_ACTION_BRIDGED:
		/* The switch's own bridge holds the channel from here, not this application; but
		   the switch leaves current_application=callpark on it, and unloading a module
		   hangs up every channel whose current application is one of the module's: a
		   `reload mod_callpark` would end the conversation that began with this pick-up. */
		switch_channel_set_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE, NULL);
		break;
	case CP_ACTION_SENT_BACK:
		send_back(session, res);
		switch_channel_set_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE, NULL);
		break;
	case CP_ACTION_END:
		switch_channel_hangup(channel, SWITCH_CAUSE_NORMAL_CLEARING);
		break;
	default:
		/* Refused: the prompt in early media, then the cause the library chose. */
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_NOTICE, "callpark %s refused (%u)\n", data, (unsigned) res->code);
		if (!zstr(res->prompt)) {
			if (!switch_channel_test_flag(channel, CF_ANSWERED)) {
				switch_channel_pre_answer(channel);
			}
			switch_ivr_play_file(session, NULL, res->prompt, NULL);
		}
		switch_channel_hangup(channel, (switch_call_cause_t) res->hangup_cause);
		break;
	}
	leave_module();
}

/* ---- events and the API command ------------------------------------------------------ */

/* A new subscriber to park+<x>@<domain>: the library answers it with the lamp's state.
   The tenant passed is the subscriber's own domain ("from", which sofia authenticated
   with auth-subscriptions) and the target keeps its domain: the library answers only a
   subscriber of the lamp's own tenant, so nobody learns another tenant's callers. */
static void probe_handler(switch_event_t *event)
{
	const char *to = switch_event_get_header(event, "to");
	const char *from = switch_event_get_header(event, "from");
	const char *call_id = switch_event_get_header(event, "sub-call-id");
	const char *from_domain = from ? strchr(from, '@') : NULL;

	if (zstr(to) || strncasecmp(to, CP_BLF_PREFIX, strlen(CP_BLF_PREFIX)) || !strchr(to, '@') || zstr(from_domain) || !globals.running) {
		return;
	}
	cp_engine_probe(globals.engine, from_domain + 1, to, call_id);
}

/* A parked channel hung up (its caller left, or it was hung up by the switch). */
static void stranded_check(const char *uuid, const char *gone);
static cp_result adopt(switch_core_session_t *session, switch_channel_t *channel, const char *uuid, cp_adoption why);

static void hangup_handler(switch_event_t *event)
{
	const char *uuid = switch_event_get_header(event, "Unique-ID");
	const char *other = switch_event_get_header(event, "variable_" CP_VAR_BRIDGE_TO);

	if (globals.running && !zstr(uuid) && switch_true(switch_event_get_header(event, "variable_" CP_VAR_PARKED))) {
		cp_engine_hangup(globals.engine, uuid);
	}
	if (globals.running && !zstr(uuid) && !zstr(other)) {
		stranded_check(other, uuid);
	}
}

/* A uuid_bridge's originator drives it from its own thread, once its state machine gets
   there; one hung up before (a retriever whose BYE came with the ACK of its 200 OK, a
   hand-over leg whose node hung up, a parked caller gone as its recall was answered)
   leaves the other leg waiting in CS_RESET for it, for ever: a caller out of the park
   on silence, a phone connected to nothing. The other leg, still up and never bridged to
   the one gone, is put right on a thread of its own, once the switch has settled: a
   parked caller goes back into the park as it was (adopted: the same slot, parking user
   and park time), anyone else is hung up. */
struct stranded {
	switch_memory_pool_t *pool;
	char *uuid;
	char *gone;
};

/* What becomes of `channel` now that `gone` hung up: the library decides
   (cp_stranded_leg, src/stranded.rs) from what the switch says of it. */
static cp_stranded stranded_now(switch_channel_t *channel, const char *gone)
{
	struct cp_waiting w;

	w.up = switch_channel_up_nosig(channel) ? true : false;
	w.bridged = switch_channel_test_flag(channel, CF_BRIDGED) ? true : false;
	w.state = switch_channel_state_name(switch_channel_get_state(channel));
	w.bond = switch_channel_get_variable(channel, SWITCH_SIGNAL_BOND_VARIABLE);
	w.last_bridge = switch_channel_get_variable(channel, SWITCH_LAST_BRIDGE_VARIABLE);
	w.gone = gone;
	w.parked = !zstr(switch_channel_get_variable(channel, CP_VAR_SLOT));
	return cp_stranded_leg(&w);
}

static void *SWITCH_THREAD_FUNC stranded_thread(switch_thread_t *thread, void *obj)
{
	struct stranded *st = obj;
	switch_memory_pool_t *pool = st->pool;
	switch_core_session_t *session;
	(void) thread;

	/* A bridge thread that is still ending has its say first. */
	switch_yield(200000);
	if ((session = switch_core_session_locate(st->uuid))) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		cp_stranded what = stranded_now(channel, st->gone);
		if (what != CP_STRANDED_NO) {
			/* What uuid_bridge attached to it would put it back in CS_RESET. */
			switch_channel_clear_state_handler(channel, NULL);
			switch_channel_clear_flag(channel, CF_TRANSFER);
			switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_NOTICE,
							  "callpark: %s was left alone by %s before they were connected: %s\n", st->uuid, st->gone,
							  what == CP_STRANDED_BACK_TO_PARK ? "back in the park" : "hung up");
		}
		if (what == CP_STRANDED_BACK_TO_PARK) {
			switch_caller_profile_t *cp = switch_channel_get_caller_profile(channel);
			const char *name = switch_channel_get_variable(channel, CP_VAR_CALLER_NAME);
			const char *number = switch_channel_get_variable(channel, CP_VAR_CALLER_NUMBER);
			/* uuid_bridge gave it the other leg's caller ID: the park shows the caller's,
			   as it did before. */
			if (cp && !zstr(number)) {
				cp->caller_id_name = switch_core_strdup(cp->pool, switch_str_nil(name));
				cp->caller_id_number = switch_core_strdup(cp->pool, number);
			}
			adopt(session, channel, st->uuid, CP_ADOPTION_LEFT_ALONE);
		} else if (what == CP_STRANDED_HANG_UP) {
			switch_channel_hangup(channel, SWITCH_CAUSE_ORIGINATOR_CANCEL);
		}
		switch_core_session_rwunlock(session);
	}
	switch_core_destroy_memory_pool(&pool);
	leave_module();
	return NULL;
}

static void stranded_check(const char *uuid, const char *gone)
{
	switch_core_session_t *session;
	switch_memory_pool_t *pool = NULL;
	switch_threadattr_t *attr = NULL;
	switch_thread_t *thread;
	struct stranded *st;
	switch_bool_t stranded;

	if (!(session = switch_core_session_locate(uuid))) {
		return;
	}
	stranded = stranded_now(switch_core_session_get_channel(session), gone) != CP_STRANDED_NO;
	switch_core_session_rwunlock(session);
	if (!stranded || !enter_module()) {
		return;
	}
	if (switch_core_new_memory_pool(&pool) != SWITCH_STATUS_SUCCESS) {
		leave_module();
		return;
	}
	st = switch_core_alloc(pool, sizeof(*st));
	st->pool = pool;
	st->uuid = switch_core_strdup(pool, uuid);
	st->gone = switch_core_strdup(pool, gone);
	switch_threadattr_create(&attr, pool);
	switch_threadattr_detach_set(attr, 1);
	switch_threadattr_stacksize_set(attr, SWITCH_THREAD_STACKSIZE);
	if (switch_thread_create(&thread, attr, stranded_thread, st, pool) != SWITCH_STATUS_SUCCESS) {
		switch_core_destroy_memory_pool(&pool);
		leave_module();
	}
}

/* What a parked channel runs, for the library to say whether it is still in the park's
   hold (or on its way to it: an operator's park a moment ago, the channel still routing,
   the bridge it leaves maybe not ended yet) and bridged to nobody (cp_hold_runs,
   src/hold.rs). The strings are the channel's: read them before changing it. */
static void read_running(switch_channel_t *channel, struct cp_hold_running *r)
{
	switch_caller_profile_t *cp = switch_channel_get_caller_profile(channel);

	memset(r, 0, sizeof(*r));
	if (cp) {
		r->profile_index = cp->profile_index;
		r->dialplan = cp->dialplan;
		r->context = cp->context;
		r->destination = cp->destination_number;
	}
	r->held_in = switch_channel_get_variable(channel, CP_VAR_HELD_IN_PROFILE);
	/* Bridged: in the hold only on its way there. */
	if (!switch_channel_test_flag(channel, CF_BRIDGED)) {
		r->app = switch_channel_get_variable(channel, SWITCH_CURRENT_APPLICATION_VARIABLE);
		r->data = switch_channel_get_variable(channel, SWITCH_CURRENT_APPLICATION_DATA_VARIABLE);
	}
	r->music = switch_channel_get_variable(channel, CP_VAR_HOLD_MUSIC);
	r->announce = switch_channel_get_variable(channel, CP_VAR_ANNOUNCE);
}

static switch_bool_t in_hold(switch_channel_t *channel)
{
	struct cp_hold_running r;

	read_running(channel, &r);
	return cp_hold_runs(&r, true) ? SWITCH_TRUE : SWITCH_FALSE;
}

/* A parked channel that runs anything but the park's hold, or is bridged, was taken out
   of the park by other means (uuid_transfer, uuid_bridge, intercept from an operator
   console): it leaves the park, so that no recall or hand-off pulls it out of its new
   conversation. callpark's own bridges and transfers claim the call first; for them the
   library answers "already taken" or "not found", and nothing happens. */
static void left_hold_handler(switch_event_t *event)
{
	const char *uuid = switch_event_get_header(event, "Unique-ID");
	const char *app = switch_event_get_header(event, "Application");

	if (!globals.running || zstr(uuid) || !switch_true(switch_event_get_header(event, "variable_" CP_VAR_PARKED))) {
		return;
	}
	if (event->event_id == SWITCH_EVENT_CHANNEL_EXECUTE) {
		struct cp_hold_running r = { 0 };

		r.profile_index = switch_event_get_header(event, "Caller-Profile-Index");
		r.dialplan = switch_event_get_header(event, "Caller-Dialplan");
		r.context = switch_event_get_header(event, "Caller-Context");
		r.destination = switch_event_get_header(event, "Caller-Destination-Number");
		r.held_in = switch_event_get_header(event, "variable_" CP_VAR_HELD_IN_PROFILE);
		r.app = app;
		r.data = switch_event_get_header(event, "Application-Data");
		r.music = switch_event_get_header(event, "variable_" CP_VAR_HOLD_MUSIC);
		r.announce = switch_event_get_header(event, "variable_" CP_VAR_ANNOUNCE);
		if (cp_hold_runs(&r, false)) {
			return;
		}
	}
	if (cp_engine_hangup(globals.engine, uuid) == CP_RESULT_OK) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "callpark: %s left the park by other means (%s%s)\n", uuid,
						  event->event_id == SWITCH_EVENT_CHANNEL_BRIDGE ? "bridged" : "runs ", switch_str_nil(app));
	}
}

/* Records on `session` the facts of `partner`, the leg it was just bridged to, for the
   library to know who that was after the partner hung up (a blind transfer's
   transferring leg is often gone by the time the transferred channel dials the code). */
static void record_partner(switch_core_session_t *session, switch_core_session_t *partner)
{
	switch_channel_t *channel = switch_core_session_get_channel(session);
	struct cp_leg l;

	read_leg(session, switch_core_session_get_channel(partner), &l);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_AUTHORIZED, l.authorized ? "true" : "false");
	switch_channel_set_variable(channel, CP_VAR_PARTNER_USER_NAME, l.user_name);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_DOMAIN_NAME, l.domain_name);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_OUTBOUND, l.outbound ? "true" : "false");
	switch_channel_set_variable(channel, CP_VAR_PARTNER_DIALED_USER, l.dialed_user);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_DIALED_DOMAIN, l.dialed_domain);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_CONTACT, l.contact);
	switch_channel_set_variable(channel, CP_VAR_PARTNER_UUID, switch_core_session_get_uuid(partner));
}

static void bridge_handler(switch_event_t *event)
{
	const char *a = switch_event_get_header(event, "Bridge-A-Unique-ID");
	const char *b = switch_event_get_header(event, "Bridge-B-Unique-ID");
	switch_core_session_t *sa, *sb;

	/* Each leg is located once and records the other. */
	if (globals.running && !zstr(a) && !zstr(b) && (sa = switch_core_session_locate(a))) {
		if ((sb = switch_core_session_locate(b))) {
			record_partner(sa, sb);
			record_partner(sb, sa);
			switch_core_session_rwunlock(sb);
		}
		switch_core_session_rwunlock(sa);
	}
	left_hold_handler(event);
}

/* Calls `fn` for every channel that says it is parked (callpark_parked), located. */
static void for_each_parked(void (*fn)(switch_core_session_t *session, switch_channel_t *channel, const char *uuid))
{
	switch_console_callback_match_t *matches = switch_core_session_findall_matching_var(CP_VAR_PARKED, "true");
	switch_console_callback_match_node_t *m;

	if (!matches) {
		return;
	}
	for (m = matches->head; m; m = m->next) {
		switch_core_session_t *session = switch_core_session_locate(m->val);
		if (session) {
			fn(session, switch_core_session_get_channel(session), m->val);
			switch_core_session_rwunlock(session);
		}
	}
	switch_console_free_matches(&matches);
}

/* Before an unload: a parked call with an exit key holds through callpark:after-music,
   which would be missing once the module is gone (FreeSWITCH hangs up a channel that
   runs an application no module has): it moves to the plain hold, endless_playback,
   keeping its exit key for the next load (adopt_one). */
static void plain_hold(switch_core_session_t *session, switch_channel_t *channel, const char *uuid)
{
	const char *key = switch_channel_get_variable(channel, CP_VAR_EXIT_KEY);
	(void) uuid;

	if (!zstr(key) && in_hold(channel)) {
		key = switch_core_session_strdup(session, key);
		hold_again(session, NULL);
		switch_channel_set_variable(channel, CP_VAR_EXIT_KEY, key);
	}
}

/* Hands a channel parked before (its callpark_slot and other variables set when it was
   parked) back to the library, with the park time it had, for `why`; carries out what
   the library says follows (cp_after_adopt): a hold, the plain hold kept for the next
   load, or no longer parked. A channel's caller is never dropped for it. */
static cp_result adopt(switch_core_session_t *session, switch_channel_t *channel, const char *uuid, cp_adoption why)
{
	switch_caller_profile_t *cp = switch_channel_get_caller_profile(channel);
	struct cp_adopt a = { 0 };
	struct cp_hold_running running;
	cp_after_adopt then = CP_AFTER_ADOPT_NOTHING;
	const char *key, *music;
	cp_result r = CP_RESULT_HOST_FAILED;
	/* Copies: the park's event, delivered during cp_engine_adopt, and the hold set these
	   variables again (which frees the strings they held). */
#define ADOPT_VAR(name) switch_core_session_strdup(session, switch_str_nil(switch_channel_get_variable(channel, name)))

	a.tenant = ADOPT_VAR(CP_VAR_SLOT_TENANT);
	a.uuid = uuid;
	a.extension = ADOPT_VAR(CP_VAR_SLOT);
	a.parking_user = ADOPT_VAR(CP_VAR_PARKING_USER);
	a.caller_number = cp ? switch_core_session_strdup(session, switch_str_nil(cp->caller_id_number)) : NULL;
	a.caller_name = cp ? switch_core_session_strdup(session, switch_str_nil(cp->caller_id_name)) : NULL;
	a.parked_epoch = ADOPT_VAR(CP_VAR_PARKED_EPOCH);
	a.now_epoch = (uint64_t) switch_epoch_time_now(NULL);
	a.timeout = ADOPT_VAR(CP_VAR_TIMEOUT);
	a.why = why;
	/* The exit key it was parked with: kept through the plain hold after a load; a leg
	   left alone held it in callpark_parked_exit_key (the hold it left cleared the other). */
	key = ADOPT_VAR(why == CP_ADOPTION_LEFT_ALONE ? CP_VAR_PARKED_EXIT_KEY : CP_VAR_EXIT_KEY);
	music = ADOPT_VAR(CP_VAR_HOLD_MUSIC);
	a.exit_key = !zstr(key);
	if (why == CP_ADOPTION_AFTER_LOAD) {
		read_running(channel, &running);
		a.running = &running;
	}
#undef ADOPT_VAR
	if (globals.running) {
		r = cp_engine_adopt(globals.engine, &a, &then);
	} else if (why == CP_ADOPTION_LEFT_ALONE) {
		/* The module unloading: the caller waits in the plain hold for the next load. */
		then = CP_AFTER_ADOPT_PLAIN_HOLD;
	}
	/* Hung up between the search and the adoption: the handler did not know it yet. */
	if (r == CP_RESULT_OK && switch_channel_down_nosig(channel)) {
		cp_engine_hangup(globals.engine, a.uuid);
	}
	if (then == CP_AFTER_ADOPT_NOT_PARKED) {
		switch_log_printf(SWITCH_CHANNEL_SESSION_LOG(session), SWITCH_LOG_NOTICE,
						  "callpark: %s left the park while the module was unloaded; not adopted\n", uuid);
		/* Its lamp, lit at the unload, is published as it is now by refresh_lit_lamps(). */
		switch_channel_set_variable(channel, CP_VAR_PARKED, NULL);
		return r;
	}
	switch_log_printf(SWITCH_CHANNEL_CHANNEL_LOG(channel), r == CP_RESULT_OK ? SWITCH_LOG_NOTICE : SWITCH_LOG_WARNING,
					  "callpark: %s parked at %s@%s %s (%u)\n", uuid, a.extension, a.tenant,
					  r == CP_RESULT_OK ? "adopted" : "could not be adopted", (unsigned) r);
	if (!switch_channel_up_nosig(channel)) {
		return r;
	}
	if (then == CP_AFTER_ADOPT_HOLD) {
		hold(session, music, a.exit_key ? key : NULL, NULL);
	} else if (then == CP_AFTER_ADOPT_PLAIN_HOLD) {
		switch_channel_set_variable(channel, CP_VAR_PARKED, "true");
		hold(session, music, NULL, NULL);
	}
	return r;
}

/* After a load: a channel still parked (held by endless_playback since before an unload)
   is handed back to the library, which recalls it as its park time says. */
static void adopt_one(switch_core_session_t *session, switch_channel_t *channel, const char *uuid)
{
	adopt(session, channel, uuid, CP_ADOPTION_AFTER_LOAD);
}

static void reload_handler(switch_event_t *event)
{
	(void) event;
	if (globals.running) {
		do_reload(NULL);
	}
}

/* The engine's status or list, in a malloc'd buffer (NULL with *r set on failure). The
   list may grow between a call that says how much room it needs and the next: ask again
   with room to spare until it fits. */
static char *engine_text(const char *tenant, cp_format format, switch_bool_t status, cp_result *r)
{
	size_t len = 4096, n = 0;
	char *buf = malloc(len), *bigger;

	*r = CP_RESULT_HOST_FAILED;
	while (buf) {
		*r = status ? cp_engine_status(globals.engine, buf, len, &n) : cp_engine_list(globals.engine, tenant, format, buf, len, &n);
		if (*r != CP_RESULT_BUFFER_TOO_SMALL || n < len) {
			break;
		}
		len = n + n / 2 + 1024;
		if (!(bigger = realloc(buf, len))) {
			free(buf);
			buf = NULL;
			*r = CP_RESULT_HOST_FAILED;
			break;
		}
		buf = bigger;
	}
	if (*r != CP_RESULT_OK) {
		switch_safe_free(buf);
	}
	return buf;
}

static void write_buffered(switch_stream_handle_t *stream, const char *tenant, cp_format format, switch_bool_t status)
{
	cp_result r;
	char *buf = engine_text(tenant, format, status, &r);

	if (buf) {
		stream->write_function(stream, "%s", buf);
		free(buf);
	} else {
		char msg[256];
		cp_result_message(r, msg, sizeof(msg), NULL);
		stream->write_function(stream, "-ERR %s\n", msg);
	}
}

/* The lamps lit at an unload (a slot and its group for every parked call), kept in a
   global variable of the switch: the next load publishes each as it is then, so that a
   lamp of a call that hung up while the module was unloaded goes out. The library writes
   and reads that snapshot (CP_FORMAT_LAMPS, cp_engine_relight). */
static void remember_lit_lamps(void)
{
	cp_result r;
	char *text = engine_text(NULL, CP_FORMAT_LAMPS, SWITCH_FALSE, &r);

	switch_core_set_variable(CP_VAR_LIT_LAMPS, zstr(text) ? NULL : text);
	switch_safe_free(text);
}

static void refresh_lit_lamps(void)
{
	char *lamps = switch_core_get_variable_dup(CP_VAR_LIT_LAMPS);

	cp_engine_relight(globals.engine, lamps);
	switch_safe_free(lamps);
	switch_core_set_variable(CP_VAR_LIT_LAMPS, NULL);
}

/* The library parses the command (list [<domain>] [json] | reload | status); this only
   carries it out. Everything typed reaches the console through "%s". */
/* An operator's park, retrieve or hang-up: the library checks and decides; this carries
   out what is left for the switch (hold the channel, hang it up) and prints its line. */
static void operate(switch_stream_handle_t *stream, const struct cp_command *command)
{
	switch_core_session_t *session = NULL;
	struct cp_operation *op;
	struct cp_dial d = { 0 };
	struct cp_leg transferring = { 0 }, partner = { 0 };

	if (!enter_module()) {
		stream->write_function(stream, "-ERR callpark is unloading\n");
		return;
	}
	switch_zmalloc(op, sizeof(*op));
	if (command->kind == CP_COMMAND_KIND_PARK && (session = switch_core_session_locate(command->uuid))) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		/* The park holds the call with music: it needs the media here, and an outbound
		   leg that is not answered yet is still ringing somebody. */
		if (switch_channel_test_flag(channel, CF_PROXY_MODE) || switch_channel_test_flag(channel, CF_PROXY_MEDIA) ||
			(switch_channel_direction(channel) == SWITCH_CALL_DIRECTION_OUTBOUND && !switch_channel_test_flag(channel, CF_ANSWERED))) {
			stream->write_function(stream, "-ERR call %s cannot be held here (bypass media, or not answered yet)\n", command->uuid);
			switch_core_session_rwunlock(session);
			free(op);
			leave_module();
			return;
		}
		read_facts(session, session, &d, &transferring, &partner);
	}
	cp_engine_operate(globals.engine, command, session ? &d : NULL, op);
	if (op->action == CP_ACTION_PARKED && session) {
		switch_channel_t *channel = switch_core_session_get_channel(session);
		/* As the application does: the hang-up handler keys on callpark_parked. */
		switch_channel_set_variable(channel, CP_VAR_PARKED, "true");
		if (command->timeout >= 0) {
			/* The operator's recall time is the call's: a load after an unload finds it. */
			switch_channel_set_variable_printf(channel, CP_VAR_TIMEOUT, "%d", command->timeout);
		}
		if (switch_channel_down_nosig(channel)) {
			cp_engine_hangup(globals.engine, command->uuid);
		} else if (hold(session, op->music, op->exit_key, op->announce) != SWITCH_STATUS_SUCCESS) {
			/* Not moved to the hold: it is not parked after all. */
			cp_engine_hangup(globals.engine, command->uuid);
			switch_channel_set_variable(channel, CP_VAR_PARKED, NULL);
			switch_snprintf(op->line, sizeof(op->line), "-ERR the switch could not move %s to the park\n", command->uuid);
		}
	} else if (op->action == CP_ACTION_HANG_UP) {
		switch_core_session_t *parked = switch_core_session_locate(command->uuid);
		if (parked) {
			switch_channel_hangup(switch_core_session_get_channel(parked), SWITCH_CAUSE_NORMAL_CLEARING);
			switch_core_session_rwunlock(parked);
		}
	}
	if (session) {
		switch_core_session_rwunlock(session);
	}
	if (*op->line) {
		stream->write_function(stream, "%s", op->line);
	} else {
		char text[256];
		cp_result_message(op->code, text, sizeof(text), NULL);
		stream->write_function(stream, "-ERR %s\n", text);
	}
	free(op);
	leave_module();
}

SWITCH_STANDARD_API(callpark_api)
{
	struct cp_command command;
	char err[CP_COMMAND_MESSAGE_SIZE] = "";
	cp_result r;
	(void) session;

	r = cp_command_parse(switch_str_nil(cmd), &command, err, sizeof(err), NULL);
	if (r == CP_RESULT_COMMAND_EMPTY) {
		stream->write_function(stream, "-USAGE: %s\n", cp_command_usage());
	} else if (r != CP_RESULT_OK) {
		if (!*err) {
			cp_result_message(r, err, sizeof(err), NULL);
		}
		stream->write_function(stream, "-ERR %s\n", err);
	} else if (command.kind == CP_COMMAND_KIND_LIST) {
		write_buffered(stream, *command.tenant ? command.tenant : NULL, command.format, SWITCH_FALSE);
	} else if (command.kind == CP_COMMAND_KIND_RELOAD) {
		const char *xml_err = NULL;
		/* Re-read the files first, as an admin who just edited callpark.conf.xml expects;
		   the RELOADXML handler then applies it too, which is harmless. */
		if (switch_xml_reload(&xml_err) != SWITCH_STATUS_SUCCESS) {
			stream->write_function(stream, "-ERR reloadxml failed: %s\n", switch_str_nil(xml_err));
		} else {
			do_reload(stream);
		}
	} else if (command.kind == CP_COMMAND_KIND_STATUS) {
		write_buffered(stream, NULL, CP_FORMAT_TEXT, SWITCH_TRUE);
	} else if (command.kind == CP_COMMAND_KIND_PARK || command.kind == CP_COMMAND_KIND_RETRIEVE || command.kind == CP_COMMAND_KIND_HANGUP) {
		operate(stream, &command);
	} else {
		stream->write_function(stream, "-ERR sub-command %u is not supported by this module\n", (unsigned) command.kind);
	}
	return SWITCH_STATUS_SUCCESS;
}

/* ---- load and shutdown ------------------------------------------------------------------ */

static const struct cp_host HOST = {
	NULL, cb_bridge, cb_ring, cb_cancel_ring, cb_transfer, cb_presence, cb_message, cb_event, cb_user_exists, cb_log, cb_sip_notify,
	cb_bridge_to_node, cb_contacts, cb_operate, cb_redirect_to_node,
};

/* The console's completions after "callpark", one line each, as the library lists them. */
static void add_completions(void)
{
	const char *line = cp_command_completions(), *end;
	char buf[256];

	for (; line && *line; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (!end) {
			end = line + strlen(line);
		}
		switch_snprintf(buf, sizeof(buf), "add %s %.*s", CP_APP_CALLPARK, (int) (end - line), line);
		switch_console_set_complete(buf);
	}
}

SWITCH_MODULE_LOAD_FUNCTION(mod_callpark_load)
{
	switch_application_interface_t *app_interface;
	switch_api_interface_t *api_interface;
	const struct cp_config *config;

	memset(&globals, 0, sizeof(globals));
	globals.pool = pool;
	switch_mutex_init(&globals.mutex, SWITCH_MUTEX_NESTED, globals.pool);

	if (switch_event_reserve_subclass(CP_EVENT_SUBCLASS) != SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "Couldn't register subclass %s!\n", CP_EVENT_SUBCLASS);
		return SWITCH_STATUS_TERM;
	}
	if (switch_event_bind_removable(modname, SWITCH_EVENT_PRESENCE_PROBE, SWITCH_EVENT_SUBCLASS_ANY, probe_handler, NULL,
									&globals.probe_node) != SWITCH_STATUS_SUCCESS ||
		switch_event_bind_removable(modname, SWITCH_EVENT_RELOADXML, NULL, reload_handler, NULL, &globals.reload_node) !=
			SWITCH_STATUS_SUCCESS ||
		switch_event_bind_removable(modname, SWITCH_EVENT_CHANNEL_HANGUP_COMPLETE, NULL, hangup_handler, NULL, &globals.hangup_node) !=
			SWITCH_STATUS_SUCCESS ||
		switch_event_bind_removable(modname, SWITCH_EVENT_CHANNEL_EXECUTE, NULL, left_hold_handler, NULL, &globals.execute_node) !=
			SWITCH_STATUS_SUCCESS ||
		switch_event_bind_removable(modname, SWITCH_EVENT_CHANNEL_BRIDGE, NULL, bridge_handler, NULL, &globals.bridge_node) !=
			SWITCH_STATUS_SUCCESS) {
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "Couldn't bind events!\n");
		goto fail;
	}
	if (!(config = load_config(NULL, SWITCH_TRUE))) {
		goto fail;
	}
	if (cp_engine_new(&HOST, config, 0, &globals.engine) != CP_RESULT_OK) {
		cp_config_free(config);
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_ERROR, "Couldn't start the callpark engine!\n");
		goto fail;
	}
	cp_config_free(config);
	globals.running = 1;

	*module_interface = switch_loadable_module_create_module_interface(pool, modname);
	SWITCH_ADD_APP(app_interface, CP_APP_CALLPARK, "Call park", "Park or retrieve a call from what was dialed", callpark_app, CALLPARK_SYNTAX,
				   SAF_NONE);
	SWITCH_ADD_APP(app_interface, CP_APP_ONE_STEP, "Call park by keys",
				   "Parks the other party of this call (bind it to a meta key with bind_meta_app: callpark_one_step:: , with the two colons)", callpark_one_step_app,
				   "[<extension or lot>]", SAF_NONE);
	SWITCH_ADD_APP(app_interface, CP_APP_HANDOVER, "Call park hand-over",
				   "A retriever another node of the shared park sends for a call held here", callpark_handover_app,
				   CP_HANDOVER_PREFIX "<token>", SAF_SUPPORT_NOMEDIA);
	SWITCH_ADD_API(api_interface, CP_APP_CALLPARK, "Call park", callpark_api, cp_command_usage());
	add_completions();
	for_each_parked(adopt_one);
	refresh_lit_lamps();
	switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_NOTICE, "callpark %s loaded\n", cp_version());
	return SWITCH_STATUS_SUCCESS;

  fail:
	switch_event_unbind(&globals.bridge_node);
	switch_event_unbind(&globals.execute_node);
	switch_event_unbind(&globals.hangup_node);
	switch_event_unbind(&globals.reload_node);
	switch_event_unbind(&globals.probe_node);
	switch_event_free_subclass(CP_EVENT_SUBCLASS);
	return SWITCH_STATUS_TERM;
}

SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_callpark_shutdown)
{
	int waited = 0, busy;

	switch_console_set_complete("del " CP_APP_CALLPARK);
	switch_event_unbind(&globals.bridge_node);
	switch_event_unbind(&globals.execute_node);
	switch_event_unbind(&globals.hangup_node);
	switch_event_unbind(&globals.reload_node);
	switch_event_unbind(&globals.probe_node);

	switch_mutex_lock(globals.mutex);
	globals.running = 0;
	switch_mutex_unlock(globals.mutex);
	/* From here the engine moves no call on by itself: the recall legs hung up below are
	   no "no answer" (which would hand calls to a ring group or final destination), and
	   no timer fires. Then stop ringing recalls and wait for every thread still inside
	   this module before the library goes away. Parked channels stay on hold
	   (endless_playback, not this module) and are adopted by the next load. */
	cp_engine_quiesce(globals.engine);
	for_each_parked(plain_hold);
	/* Recalls whose leg does not exist yet give up too (their originate's cancel cause). */
	cancel_recalls(NULL);
	remember_lit_lamps();
	switch_core_session_hupall_matching_var_ans(CP_VAR_RECALL, "true", SWITCH_CAUSE_ORIGINATOR_CANCEL, SHT_UNANSWERED);
	for (;;) {
		switch_mutex_lock(globals.mutex);
		busy = globals.busy;
		switch_mutex_unlock(globals.mutex);
		if (!busy || waited >= 10000) {
			break;
		}
		switch_yield(10000);
		waited += 10;
	}
	if (busy) {
		/* Freeing the engine (or letting the switch unmap the library) under a thread that
		   still runs in it would crash the switch: keep both, and say so. */
		switch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_CRIT,
						  "%d callpark threads still busy after 10 s: the library stays loaded (not unloadable now)\n", busy);
		switch_event_free_subclass(CP_EVENT_SUBCLASS);
		return SWITCH_STATUS_NOUNLOAD;
	}
	cp_engine_free(globals.engine);
	globals.engine = NULL;
	switch_event_free_subclass(CP_EVENT_SUBCLASS);
	return SWITCH_STATUS_SUCCESS;
}

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
