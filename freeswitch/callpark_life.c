/*
 * mod_callpark: a parked channel's life outside the dialplan application, from the
 * switch's events: a hang-up, a channel taken out of the park by other means, a leg left
 * alone by a bridge that never comes (cp_stranded_leg), the channels adopted after a
 * load and put on the plain hold before an unload (cp_engine_adopt). The library
 * decides each; this file reads the facts and carries the decision out.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"

static void stranded_check(const char *uuid, const char *gone);
static cp_result adopt(switch_core_session_t *session, switch_channel_t *channel, const char *uuid, cp_adoption why);

/* A channel hung up: a parked one leaves the park (its caller left, or the switch hung
   it up); a leg waiting for it to drive a bridge may be left alone. */
void hangup_handler(switch_event_t *event)
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
			const char *name = switch_channel_get_variable(channel, CP_VAR_CALLER_NAME);
			const char *number = switch_channel_get_variable(channel, CP_VAR_CALLER_NUMBER);
			/* uuid_bridge gave it the other leg's caller ID: the park shows the caller's,
			   as it did before (the switch's own call, under the profile's lock). */
			if (!zstr(number) && switch_channel_get_caller_profile(channel)) {
				switch_channel_set_profile_var(channel, "caller_id_name", switch_str_nil(name));
				switch_channel_set_profile_var(channel, "caller_id_number", number);
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
	r->answering = switch_true(switch_channel_get_variable(channel, CP_VAR_ANSWERING)) ? true : false;
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
void left_hold_handler(switch_event_t *event)
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
		r.answering = switch_true(switch_event_get_header(event, "variable_" CP_VAR_ANSWERING)) ? true : false;
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

void bridge_handler(switch_event_t *event)
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
void for_each_parked(void (*fn)(switch_core_session_t *session, switch_channel_t *channel, const char *uuid))
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
void plain_hold(switch_core_session_t *session, switch_channel_t *channel, const char *uuid)
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
void adopt_one(switch_core_session_t *session, switch_channel_t *channel, const char *uuid)
{
	adopt(session, channel, uuid, CP_ADOPTION_AFTER_LOAD);
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
