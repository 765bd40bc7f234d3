/*
 * mod_callpark: the cp_host callbacks that connect calls: a retriever or an answered
 * recall leg bridged to a parked call, a retriever sent to the node that holds the call,
 * the recall legs the library rings and cancels, transfers.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"
#ifdef __linux__
#include <sys/prctl.h>
#endif

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

cp_result cb_bridge(void *ctx, const char *uuid, const char *parked_uuid, cp_joining joining)
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
cp_result cb_bridge_to_node(void *ctx, const char *uuid, const char *address, const char *destination)
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
cp_result cb_redirect_to_node(void *ctx, const char *uuid, const char *address, const char *destination)
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

cp_result cb_ring(void *ctx, const struct cp_ring *ring)
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
void cancel_recalls(const char *parked_uuid)
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
void cb_cancel_ring(void *ctx, const char *parked_uuid)
{
	(void) ctx;
	cancel_recalls(parked_uuid);
	switch_core_session_hupall_matching_var_ans(CP_VAR_RECALL_FOR, parked_uuid, SWITCH_CAUSE_ORIGINATOR_CANCEL, SHT_UNANSWERED);
}

cp_result cb_transfer(void *ctx, const char *uuid, const char *extension, const char *dialplan, const char *context)
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
