/*
 * mod_callpark: the "callpark" API command (fs_cli, ESL): the library parses it
 * (cp_command_parse) and plans the operator's actions (cp_engine_operate); this file
 * carries them out and writes the answers. Its console completions come from the
 * library's list.
 *
 * The content of this file is subject to the Mozilla Public License Version 1.1.
 */
#include "mod_callpark.h"

/* What a stream holds (`keep`: else nothing) into `buf` of `len` bytes, cut if need be
   and NUL-terminated; its whole length (0: nothing). The stream's text is freed. */
size_t stream_out(switch_stream_handle_t *stream, switch_bool_t keep, char *buf, size_t len)
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

/* Another node of a shared park sent an operator's command for a call held here (the
   engine's own thread calls this): carried out as if typed here, never sent on. */
size_t cb_operate(void *ctx, const char *text, char *buf, size_t len)
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

/* The engine's status or list, in a malloc'd buffer (NULL with *r set on failure). The
   list may grow between a call that says how much room it needs and the next: ask again
   with room to spare until it fits. */
char *engine_text(const char *tenant, cp_format format, switch_bool_t status, cp_result *r)
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

/* The library parses the command (list [<domain>] [json] | reload | status); this only
   carries it out. Everything typed reaches the console through "%s". */
/* An operator's park, retrieve or hang-up: the library checks and decides; this carries
   out what is left for the switch (hold the channel, hang it up) and prints its line. */
void operate(switch_stream_handle_t *stream, const struct cp_command *command)
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
		} else if (hold(session, op->hold.music, op->hold.exit_key, op->hold.announce) != SWITCH_STATUS_SUCCESS) {
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

/* The API command and its completions, added to the module's interface at load. */
void callpark_add_api(switch_loadable_module_interface_t **module_interface)
{
	switch_api_interface_t *api_interface;

	SWITCH_ADD_API(api_interface, CP_APP_CALLPARK, "Call park", callpark_api, cp_command_usage());
	add_completions();
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
