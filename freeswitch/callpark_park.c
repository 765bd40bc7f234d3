/*
 * mod_callpark: the dialplan applications (callpark, callpark_one_step,
 * callpark_handover). What the switch knows of the channel goes to the library
 * (cp_engine_dial); what it answers is carried out here: the hold (cp_hold_plan_of), a
 * bridge, sending the call back, the failure prompt.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"

#define CALLPARK_SYNTAX "<dialed digits>, e.g. ${destination_number}"

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
void read_leg(switch_core_session_t *into, switch_channel_t *channel, struct cp_leg *leg)
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
   it: a new caller extension on the channel (switch_channel_set_caller_extension) and
   CF_RESET, on which the extension loop starts over with the channel's extension
   (switch_core_standard_on_execute, 1.10 and master), as the switch itself runs an
   exec_after_bridge_app (switch_ivr_bridge.c). A CDR's callflow shows that newest
   extension, named callpark_hold (CP_HOLD_EXTENSION).
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
	if (!(next = switch_caller_extension_new(session, CP_HOLD_EXTENSION, ext->extension_number))) {
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
switch_status_t hold(switch_core_session_t *session, const char *music, const char *exit_key, const char *announce)
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
	/* What the switch runs on this answer (execute_on_answer: a site's record_session)
	   fires its events with this variable set: it does not take the call out of the park
	   (cp_hold_runs). */
	if (!switch_channel_test_flag(channel, CF_ANSWERED)) {
		switch_channel_set_variable(channel, CP_VAR_ANSWERING, "true");
		switch_channel_answer(channel);
		switch_channel_set_variable(channel, CP_VAR_ANSWERING, NULL);
	}
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
void read_facts(switch_core_session_t *session, switch_core_session_t *into, struct cp_dial *d, struct cp_leg *transferring,
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
void hold_again(switch_core_session_t *session, const char *exit_key)
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
		hold(session, res->hold.music, res->hold.exit_key, res->hold.announce);
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

/* The applications, added to the module's interface at load. */
void callpark_add_apps(switch_loadable_module_interface_t **module_interface)
{
	switch_application_interface_t *app_interface;

	SWITCH_ADD_APP(app_interface, CP_APP_CALLPARK, "Call park", "Park or retrieve a call from what was dialed", callpark_app, CALLPARK_SYNTAX,
				   SAF_NONE);
	SWITCH_ADD_APP(app_interface, CP_APP_ONE_STEP, "Call park by keys",
				   "Parks the other party of this call (bind it to a meta key with bind_meta_app: callpark_one_step:: , with the two colons)", callpark_one_step_app,
				   "[<extension or lot>]", SAF_NONE);
	SWITCH_ADD_APP(app_interface, CP_APP_HANDOVER, "Call park hand-over",
				   "A retriever another node of the shared park sends for a call held here", callpark_handover_app,
				   CP_HANDOVER_PREFIX "<token>", SAF_SUPPORT_NOMEDIA);
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
