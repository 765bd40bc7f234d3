/*
 * mod_callpark: the cp_host callbacks that tell: BLF lamps (PRESENCE_IN) and the answer
 * to a new subscriber's PRESENCE_PROBE, park notices (MESSAGE, NOTIFY), callpark::info
 * events, directory and contact look-ups; and the lamps kept across an unload.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"

/* A lamp as PRESENCE_IN. mod_sofia writes the caller's name and number into the lamp's
   dialog-info XML as they are: the library hands them XML-escaped (caller_*_xml), so
   that a name such as "AT&T" leaves the XML valid. */
void cb_presence(void *ctx, const struct cp_presence *p)
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
void cb_message(void *ctx, const char *tenant, const char *extension, const char *text)
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
void cb_sip_notify(void *ctx, const char *tenant, const char *extension, const char *event, const char *content_type,
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

void cb_event(void *ctx, const struct cp_event *e)
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

bool cb_user_exists(void *ctx, const char *tenant, const char *extension)
{
	switch_xml_t user = NULL;
	(void) ctx;

	if (switch_xml_locate_user_merged("id", extension, tenant, NULL, &user, NULL) != SWITCH_STATUS_SUCCESS) {
		return false;
	}
	switch_xml_free(user);
	return true;
}

/* The contacts user@tenant registered on any profile, as sofia_contact lists them
   ("sofia/<profile>/sip:...", several joined by ','); the library matches them. */
size_t cb_contacts(void *ctx, const char *tenant, const char *user, char *buf, size_t len)
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

/* A new subscriber to park+<x>@<domain>: the library answers it with the lamp's state.
   The tenant passed is the subscriber's own domain ("from", which sofia authenticated
   with auth-subscriptions) and the target keeps its domain: the library answers only a
   subscriber of the lamp's own tenant, so nobody learns another tenant's callers. */
void probe_handler(switch_event_t *event)
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

/* The lamps lit at an unload (a slot and its group for every parked call), kept in a
   global variable of the switch: the next load publishes each as it is then, so that a
   lamp of a call that hung up while the module was unloaded goes out. The library writes
   and reads that snapshot (CP_FORMAT_LAMPS, cp_engine_relight). */
void remember_lit_lamps(void)
{
	cp_result r;
	char *text = engine_text(NULL, CP_FORMAT_LAMPS, SWITCH_FALSE, &r);

	switch_core_set_variable(CP_VAR_LIT_LAMPS, zstr(text) ? NULL : text);
	switch_safe_free(text);
}

void refresh_lit_lamps(void)
{
	char *lamps = switch_core_get_variable_dup(CP_VAR_LIT_LAMPS);

	cp_engine_relight(globals.engine, lamps);
	switch_safe_free(lamps);
	switch_core_set_variable(CP_VAR_LIT_LAMPS, NULL);
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
