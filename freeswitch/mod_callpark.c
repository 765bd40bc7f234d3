/*
 * mod_callpark: call parking for FreeSWITCH.
 *
 * A thin shim: every rule (feature codes, slots, groups, recall, who is told what)
 * lives in libcallpark (include/callpark.h). This module only translates between
 * FreeSWITCH and that C ABI, in files by job (mod_callpark.h lists what they share):
 *   mod_callpark.c      loading, the configuration, reloads, shutdown (this file)
 *   callpark_park.c     the dialplan applications: a channel's facts to cp_engine_dial,
 *                       the hold, sending a call back
 *   callpark_bridge.c   bridges, recall legs and transfers the library asks for
 *   callpark_notify.c   lamps, park notices, events, directory look-ups
 *   callpark_life.c     a parked channel's life: leaving the park by other means, a leg
 *                       left alone by a bridge, adoption after a load
 *   callpark_api.c      the "callpark" API command (fs_cli, ESL)
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"

/* The names shared with the library and the switch (applications, channel variables,
   the lamps' prefix) are CP_* in callpark.h, from src/lists/names.rs. */

SWITCH_MODULE_LOAD_FUNCTION(mod_callpark_load);
SWITCH_MODULE_SHUTDOWN_FUNCTION(mod_callpark_shutdown);
SWITCH_MODULE_DEFINITION(mod_callpark, mod_callpark_load, mod_callpark_shutdown, NULL);

struct callpark_globals globals;

/* Threads that run module code register, so that shutdown waits for them. */
switch_bool_t enter_module(void)
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

void leave_module(void)
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

switch_status_t do_reload(switch_stream_handle_t *stream)
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

static void cb_log(void *ctx, cp_log_level level, const char *message)
{
	(void) ctx;
	switch_log_printf(SWITCH_CHANNEL_LOG, (switch_log_level_t) level, "%s\n", message);
}

static void reload_handler(switch_event_t *event)
{
	(void) event;
	if (globals.running) {
		do_reload(NULL);
	}
}

/* ---- load and shutdown ------------------------------------------------------------------ */

static const struct cp_host HOST = {
	NULL, cb_bridge, cb_ring, cb_cancel_ring, cb_transfer, cb_presence, cb_message, cb_event, cb_user_exists, cb_log, cb_sip_notify,
	cb_bridge_to_node, cb_contacts, cb_operate, cb_redirect_to_node,
};

SWITCH_MODULE_LOAD_FUNCTION(mod_callpark_load)
{
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
	callpark_add_apps(module_interface);
	callpark_add_api(module_interface);
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
