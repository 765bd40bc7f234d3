/*
 * A C host for libcallpark: includes only callpark.h, plays a fake switch that records
 * what the engine asks of it, and runs a park, a retrieve, a recall and a hangup, plus
 * the ABI's error paths. Built with -Wall -Wextra -Werror -Wpedantic and run under
 * AddressSanitizer/UBSan and valgrind by tests/c/run.sh.
 */
#include "callpark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                   \
	do {                                                                              \
		if (cond) {                                                                   \
			passed++;                                                                 \
		} else {                                                                      \
			failed++;                                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
		}                                                                             \
	} while (0)

#define LOG_MAX 64
#define LINE 256

/* What the fake switch was asked to do, one line per call. */
struct fake_switch {
	char log[LOG_MAX][LINE];
	int n;
};

static void record(struct fake_switch *sw, const char *line)
{
	if (sw->n < LOG_MAX) {
		snprintf(sw->log[sw->n], LINE, "%s", line);
		sw->n++;
	}
}

static int seen(const struct fake_switch *sw, const char *line)
{
	int i;
	for (i = 0; i < sw->n; i++) {
		if (!strcmp(sw->log[i], line)) {
			return 1;
		}
	}
	return 0;
}

static cp_result on_bridge(void *ctx, const char *uuid, const char *parked, cp_joining joining)
{
	char b[LINE];
	snprintf(b, sizeof(b), "bridge %s %s %s", uuid, parked, joining == CP_JOINING_RECALL_LEG ? "recall-leg" : "retriever");
	record(ctx, b);
	return CP_RESULT_OK;
}

static cp_result on_ring(void *ctx, const struct cp_ring *r)
{
	char b[LINE];
	snprintf(b, sizeof(b), "ring %s %s@%s %us #%u from %s", r->parked_uuid, r->extension, r->tenant,
			 (unsigned) r->seconds, (unsigned) r->attempt, r->caller_number);
	record(ctx, b);
	return CP_RESULT_OK;
}

static void on_cancel_ring(void *ctx, const char *parked)
{
	char b[LINE];
	snprintf(b, sizeof(b), "cancel %s", parked);
	record(ctx, b);
}

static cp_result on_transfer(void *ctx, const char *uuid, const char *ext, const char *dp, const char *context)
{
	char b[LINE];
	snprintf(b, sizeof(b), "transfer %s %s %s %s", uuid, ext, dp, context);
	record(ctx, b);
	return CP_RESULT_OK;
}

static void on_presence(void *ctx, const struct cp_presence *p)
{
	char b[LINE];
	snprintf(b, sizeof(b), "presence park+%s@%s lamp=%u count=%u caller=%s", p->target, p->tenant, (unsigned) p->lamp,
			 (unsigned) p->count, p->caller_number);
	record(ctx, b);
}

static void on_message(void *ctx, const char *tenant, const char *ext, const char *text)
{
	char b[LINE];
	snprintf(b, sizeof(b), "message %s@%s: %s", ext, tenant, text);
	record(ctx, b);
}

static void on_event(void *ctx, const struct cp_event *e)
{
	char b[LINE];
	snprintf(b, sizeof(b), "event %s %s ext=%s by=%s other=%s", e->action_name, e->uuid, e->extension,
			 e->parking_user, e->other_uuid ? e->other_uuid : "-");
	record(ctx, b);
	if (e->ends_park || e->adopted) {
		snprintf(b, sizeof(b), "%s%s %s", e->ends_park ? "ends" : "", e->adopted ? "adopted" : "", e->uuid);
		record(ctx, b);
	}
}

static bool on_user_exists(void *ctx, const char *tenant, const char *ext)
{
	(void) ctx;
	return !strcmp(tenant, "acme.example") && strlen(ext) == 3 && ext[0] == '1';
}

static void on_log(void *ctx, cp_log_level level, const char *msg)
{
	(void) ctx;
	(void) level;
	(void) msg;
}

static const char *CONF = "<configuration name=\"callpark.conf\">"
						  "<settings><param name=\"recall-time\" value=\"60\"/></settings>"
						  "<tenants><tenant domain=\"acme.example\"><groups>"
						  "<group name=\"sales\" recall=\"parking-user\"><member extension=\"101\"/>"
						  "<member extension=\"102\"/></group></groups></tenant></tenants></configuration>";

/* The leg that transferred the call: the outbound leg to a directory user. */
static struct cp_leg partner;

/* `uuid` dials `dialed` in acme: `user` is the channel's authenticated user, `by` the
   user of the outbound leg it was bridged to before it was transferred here. */
static struct cp_dial dial(const char *uuid, const char *dialed, const char *user, const char *by)
{
	struct cp_dial d;
	memset(&d, 0, sizeof(d));
	d.uuid = uuid;
	d.dialed = dialed;
	d.channel.authorized = user != NULL;
	d.channel.user_name = user;
	d.channel.domain_name = "acme.example";
	if (by) {
		memset(&partner, 0, sizeof(partner));
		partner.outbound = true;
		partner.dialed_user = by;
		partner.dialed_domain = "acme.example";
		d.bridge_partner = &partner;
		d.refer_to = "<sip:*68@acme.example>";
	}
	d.caller_number = "003386002678";
	d.caller_name = "Jane Doe";
	return d;
}

/* The "callpark" API command, parsed by the library the way mod_callpark calls it. */
static void test_command(void)
{
	struct cp_command c;
	char err[CP_COMMAND_MESSAGE_SIZE], small[8];
	char *line;
	size_t n = 0, len;

	CHECK(!strncmp(cp_command_usage(), "list [<domain>] [json] | reload | status | park <uuid>", 53));
	CHECK(sizeof(c.tenant) == CP_COMMAND_TENANT_SIZE);

	/* Every command, in any case, whatever the whitespace. */
	CHECK(cp_command_parse("list", &c, err, sizeof(err), &n) == CP_RESULT_OK);
	CHECK(c.kind == CP_COMMAND_KIND_LIST && c.format == CP_FORMAT_TEXT && c.tenant[0] == '\0');
	CHECK(cp_command_parse("  LIST\tAcme.Example  Json \n", &c, NULL, 0, NULL) == CP_RESULT_OK);
	CHECK(c.kind == CP_COMMAND_KIND_LIST && c.format == CP_FORMAT_JSON && !strcmp(c.tenant, "acme.example"));
	CHECK(cp_command_parse("list json globex.example", &c, NULL, 0, NULL) == CP_RESULT_OK);
	CHECK(c.format == CP_FORMAT_JSON && !strcmp(c.tenant, "globex.example"));
	CHECK(cp_command_parse("Reload", &c, NULL, 0, NULL) == CP_RESULT_OK && c.kind == CP_COMMAND_KIND_RELOAD);
	CHECK(c.tenant[0] == '\0');
	CHECK(cp_command_parse("status", &c, NULL, 0, NULL) == CP_RESULT_OK && c.kind == CP_COMMAND_KIND_STATUS);
	/* The operator's commands: each word in its field, NUL-terminated. */
	CHECK(cp_command_parse("park 0B7A1C2E-3F4D-4E5F-8A9B-0C1D2E3F4A5B 105@Acme.Example json", &c, NULL, 0, NULL) == CP_RESULT_OK);
	CHECK(c.kind == CP_COMMAND_KIND_PARK && c.format == CP_FORMAT_JSON && !strcmp(c.uuid, "0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b"));
	CHECK(!strcmp(c.extension, "105") && !strcmp(c.tenant, "acme.example") && c.user[0] == '\0');
	CHECK(cp_command_parse("retrieve 105@acme.example alice", &c, NULL, 0, NULL) == CP_RESULT_OK);
	CHECK(c.kind == CP_COMMAND_KIND_RETRIEVE && c.uuid[0] == '\0' && !strcmp(c.extension, "105") && !strcmp(c.user, "alice"));
	CHECK(cp_command_parse("hangup 0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b", &c, NULL, 0, NULL) == CP_RESULT_OK);
	CHECK(c.kind == CP_COMMAND_KIND_HANGUP && c.tenant[0] == '\0' && c.extension[0] == '\0');
	CHECK(sizeof(c.uuid) == CP_COMMAND_WORD_SIZE && sizeof(c.user) == CP_COMMAND_WORD_SIZE);
	CHECK(cp_command_parse("park 102 105", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_NOT_A_UUID);
	CHECK(!strcmp(err, "\"102\" is not a call's uuid"));

	/* Each refusal has its code and a message naming what was wrong; the command is left
	   as it was. */
	c.kind = CP_COMMAND_KIND_STATUS;
	strcpy(c.tenant, "untouched");
	CHECK(cp_command_parse("", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_EMPTY);
	CHECK(cp_command_parse(" \t ", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_EMPTY);
	CHECK(cp_command_parse("lst", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_UNKNOWN);
	CHECK(strstr(err, "unknown sub-command \"lst\"") != NULL && n == strlen(err));
	CHECK(cp_command_parse("reload now", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_EXTRA_ARGUMENT);
	CHECK(!strcmp(err, "reload takes no arguments, \"now\" was given"));
	CHECK(cp_command_parse("status json", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_EXTRA_ARGUMENT);
	CHECK(cp_command_parse("list a.example b.example", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_TWO_DOMAINS);
	CHECK(!strcmp(err, "list takes one domain, \"a.example\" and \"b.example\" were given"));
	CHECK(cp_command_parse("list json JSON", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_JSON_TWICE);
	CHECK(cp_command_parse("list a\x01" "b", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_BAD_CHARACTER);
	CHECK(!strcmp(err, "the command has a control character at byte 6"));
	CHECK(cp_command_parse("list a%sb", &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_NOT_A_DOMAIN);
	CHECK(!strcmp(err, "\"a%sb\" is not a domain (letters, digits, '.', '-', '_')"));
	CHECK(cp_command_parse("list \xff", &c, err, sizeof(err), &n) == CP_RESULT_INVALID_UTF8);
	CHECK(!strcmp(err, "the command is not UTF-8 (byte 5)"));
	CHECK(cp_command_parse(NULL, &c, err, sizeof(err), &n) == CP_RESULT_NULL_PARAMETER);
	CHECK(cp_command_parse("list", NULL, err, sizeof(err), &n) == CP_RESULT_NULL_PARAMETER);
	CHECK(c.kind == CP_COMMAND_KIND_STATUS && !strcmp(c.tenant, "untouched"));

	/* Without a message buffer, and with one too small: cut, NUL-terminated. */
	CHECK(cp_command_parse("lst", &c, NULL, 0, NULL) == CP_RESULT_COMMAND_UNKNOWN);
	CHECK(cp_command_parse("lst", &c, small, sizeof(small), &n) == CP_RESULT_COMMAND_UNKNOWN);
	CHECK(n == sizeof(small) - 1 && !strcmp(small, "unknown"));

	/* The longest domain fits the struct; one byte more is refused; a 100 kB line is
	   refused with a short message. */
	len = 100 * 1000;
	line = malloc(len + 1);
	if (!line) {
		CHECK(line != NULL);
		return;
	}
	memcpy(line, "list ", 5);
	memset(line + 5, 'a', CP_COMMAND_TENANT_SIZE - 1);
	line[5 + CP_COMMAND_TENANT_SIZE - 1] = '\0';
	CHECK(cp_command_parse(line, &c, err, sizeof(err), &n) == CP_RESULT_OK);
	CHECK(strlen(c.tenant) == CP_COMMAND_TENANT_SIZE - 1);
	line[5 + CP_COMMAND_TENANT_SIZE - 1] = 'a';
	line[5 + CP_COMMAND_TENANT_SIZE] = '\0';
	CHECK(cp_command_parse(line, &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_DOMAIN_TOO_LONG);
	CHECK(!strcmp(err, "the domain is 254 bytes long, more than 253"));
	memset(line + 5, 'a', len - 5);
	line[len] = '\0';
	CHECK(cp_command_parse(line, &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_DOMAIN_TOO_LONG);
	memset(line, 'x', len);
	CHECK(cp_command_parse(line, &c, err, sizeof(err), &n) == CP_RESULT_COMMAND_UNKNOWN);
	CHECK(n < CP_COMMAND_MESSAGE_SIZE && n == strlen(err));
	free(line);

	CHECK(cp_result_message(CP_RESULT_COMMAND_TWO_DOMAINS, err, sizeof(err), &n) == CP_RESULT_OK);
	CHECK(!strcmp(err, "list takes one domain"));
}

int main(void)
{
	struct fake_switch *sw = calloc(1, sizeof(*sw));
	struct cp_host host;
	const struct cp_config *config = NULL;
	const struct cp_engine *engine = NULL;
	const struct cp_engine *threaded = NULL;
	struct cp_dial d;
	struct cp_dial_result res;
	char buf[4096], small[8], err[512];
	size_t n = 0;

	CHECK(cp_version() != NULL && strlen(cp_version()) > 0);

	/* Configuration: a broken one is refused with its errors, a valid one accepted. */
	CHECK(cp_config_parse("bad.xml", "<configuration name=\"callpark.conf\"><settings><param name=\"ring-time\" "
									 "value=\"x\"/></settings></configuration>",
						  strlen("<configuration name=\"callpark.conf\"><settings><param name=\"ring-time\" "
								 "value=\"x\"/></settings></configuration>"),
						  &config, err, sizeof(err), &n) == CP_RESULT_CONFIG_INVALID);
	CHECK(config == NULL);
	CHECK(strstr(err, "bad.xml:1: ring-time is \"x\"") != NULL);
	CHECK(cp_config_parse("callpark.conf.xml", CONF, strlen(CONF), &config, err, sizeof(err), &n) == CP_RESULT_OK);
	CHECK(config != NULL);

	/* The callback table: a missing required callback is refused. */
	memset(&host, 0, sizeof(host));
	host.host_ctx = sw;
	CHECK(cp_engine_new(&host, config, CP_ENGINE_MANUAL_CLOCK, &engine) == CP_RESULT_NULL_PARAMETER);
	host.bridge = on_bridge;
	host.ring = on_ring;
	host.cancel_ring = on_cancel_ring;
	host.transfer = on_transfer;
	host.presence = on_presence;
	host.message = on_message;
	host.event = on_event;
	host.user_exists = on_user_exists;
	host.log = on_log;
	CHECK(cp_engine_new(&host, config, 0x80, &engine) == CP_RESULT_INVALID_ARGUMENT);
	CHECK(cp_engine_new(&host, config, CP_ENGINE_MANUAL_CLOCK, &engine) == CP_RESULT_OK);
	CHECK(engine != NULL);

	/* Park: Bob (101) transfers a caller to *68102. */
	d = dial("caller-1", "*68102", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_OK);
	CHECK(res.action == CP_ACTION_PARKED);
	CHECK(!strcmp(res.hold.music, "") && res.code == CP_RESULT_OK); /* no music configured: silence */
	CHECK(seen(sw, "presence park+102@acme.example lamp=1 count=1 caller=003386002678"));
	CHECK(seen(sw, "presence park+sales@acme.example lamp=1 count=1 caller=003386002678"));
	CHECK(seen(sw, "message 102@acme.example: 003386002678 (Jane Doe) parked on 102, dial *88102"));
	CHECK(seen(sw, "event parked caller-1 ext=102 by=101 other=-"));

	/* Listing, and a buffer too small for it. */
	CHECK(cp_engine_list(engine, "acme.example", CP_FORMAT_JSON, buf, sizeof(buf), &n) == CP_RESULT_OK);
	CHECK(strstr(buf, "\"uuid\":\"caller-1\"") != NULL && n == strlen(buf));
	CHECK(cp_engine_list(engine, NULL, CP_FORMAT_TEXT, small, sizeof(small), &n) == CP_RESULT_BUFFER_TOO_SMALL);
	CHECK(n > sizeof(small));
	CHECK(cp_engine_list(engine, "globex.example", CP_FORMAT_TEXT, buf, sizeof(buf), &n) == CP_RESULT_OK);
	CHECK(!strcmp(buf, "0 parked calls\n"));
	CHECK(cp_engine_status(engine, buf, sizeof(buf), &n) == CP_RESULT_OK && strstr(buf, "1 parked calls") != NULL);

	/* Retrieve: Alice (102) dials *88. */
	d = dial("alice-1", "*88", "102", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_OK);
	CHECK(res.action == CP_ACTION_BRIDGED);
	CHECK(seen(sw, "bridge alice-1 caller-1 retriever"));
	CHECK(seen(sw, "presence park+102@acme.example lamp=0 count=0 caller="));
	d = dial("alice-2", "*88", "102", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_SLOT_EMPTY);
	CHECK(res.action == CP_ACTION_NONE);

	/* Recall: parked at 101 by 101, nobody picks up for 60 s, Bob's phone rings. */
	d = dial("caller-2", "*68", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_OK);
	CHECK(cp_engine_advance(engine, 59999) == CP_RESULT_OK);
	CHECK(!seen(sw, "ring caller-2 101@acme.example 20s #1 from 003386002678"));
	CHECK(cp_engine_advance(engine, 1) == CP_RESULT_OK);
	CHECK(seen(sw, "ring caller-2 101@acme.example 20s #1 from 003386002678"));
	CHECK(seen(sw, "presence park+101@acme.example lamp=2 count=1 caller=003386002678"));
	CHECK(cp_engine_recall_answered(engine, "caller-2", 1, "bob-leg") == CP_RESULT_OK);
	CHECK(seen(sw, "bridge bob-leg caller-2 recall-leg"));
	CHECK(cp_engine_recall_answered(engine, "caller-2", 1, "bob-leg-2") == CP_RESULT_NOT_FOUND);

	/* Hangup: the parked caller hangs up, the slot and lamp clear. */
	d = dial("caller-3", "*68102", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_OK);
	CHECK(cp_engine_hangup(engine, "caller-3") == CP_RESULT_OK);
	CHECK(seen(sw, "event abandoned caller-3 ext=102 by=101 other=-"));
	CHECK(seen(sw, "ends caller-3"));
	CHECK(cp_engine_hangup(engine, "caller-3") == CP_RESULT_NOT_FOUND);

	/* A park that cannot happen goes back to the parking user. */
	d = dial("caller-4", "*68999", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_UNKNOWN_EXTENSION);
	CHECK(res.action == CP_ACTION_SENT_BACK);
	CHECK(!strcmp(res.user, "101") && !strcmp(res.tenant, "acme.example"));
	CHECK(!strcmp(res.prompt, "ivr/ivr-that_was_an_invalid_entry.wav"));
	CHECK(seen(sw, "event sent-back caller-4 ext= by=101 other=-"));
	/* Refused: a prompt and a cause (480 for an empty slot, 404 for a mistyped code). */
	d = dial("alice-3", "*88101", "102", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_SLOT_EMPTY);
	CHECK(res.action == CP_ACTION_NONE && res.hangup_cause == 20 && !strcmp(res.prompt, "ivr/ivr-not_available.wav"));
	d = dial("alice-3", "*77", "102", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_CODE_UNKNOWN && res.hangup_cause == 1);
	/* A user id that is not digits is a user like any other. */
	d = dial("caller-8", "*68", "alice", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_OK && res.action == CP_ACTION_PARKED);
	CHECK(seen(sw, "event parked caller-8 ext=alice by=alice other=-"));
	CHECK(cp_engine_hangup(engine, "caller-8") == CP_RESULT_OK);

	/* Adopting a call the switch still holds parked (after a module reload). */
	{
		struct cp_adopt a;
		memset(&a, 0, sizeof(a));
		a.tenant = "acme.example";
		a.uuid = "caller-7";
		a.extension = "103";
		a.parking_user = "101";
		a.caller_number = "5551234";
		a.parked_epoch = "1000";
		a.now_epoch = 1030;
		/* After a load, what it runs says whether it is still in the hold. */
		struct cp_hold_running r;
		cp_after_adopt then = CP_AFTER_ADOPT_HOLD;
		memset(&r, 0, sizeof(r));
		r.dialplan = "inline";
		r.app = "endless_playback";
		r.data = "moh.wav";
		r.music = "moh.wav";
		a.why = CP_ADOPTION_AFTER_LOAD;
		CHECK(cp_engine_adopt(engine, &a, &then) == CP_RESULT_NOT_FOUND && then == CP_AFTER_ADOPT_NOT_PARKED);
		a.running = &r;
		a.exit_key = true;
		CHECK(cp_engine_adopt(engine, &a, &then) == CP_RESULT_OK && then == CP_AFTER_ADOPT_HOLD);
		CHECK(seen(sw, "event parked caller-7 ext=103 by=101 other=-"));
		CHECK(seen(sw, "adopted caller-7"));
		CHECK(seen(sw, "presence park+103@acme.example lamp=1 count=1 caller=5551234"));
		CHECK(cp_engine_adopt(engine, &a, NULL) == CP_RESULT_ALREADY_PARKED);
		CHECK(cp_engine_adopt(engine, NULL, NULL) == CP_RESULT_NULL_PARAMETER);
		a.extension = NULL;
		a.why = CP_ADOPTION_LEFT_ALONE;
		CHECK(cp_engine_adopt(engine, &a, &then) == CP_RESULT_NULL_PARAMETER && then == CP_AFTER_ADOPT_PLAIN_HOLD);
		CHECK(cp_engine_hangup(engine, "caller-7") == CP_RESULT_OK);
	}

	/* Probes. */
	CHECK(cp_engine_probe(engine, "acme.example", "park+102", "sip:103@acme.example") == CP_RESULT_OK);
	CHECK(cp_engine_probe(engine, "acme.example", "park+nobody", NULL) == CP_RESULT_NOT_FOUND);

	/* Bad input: NULLs, bad UTF-8, mistyped codes, unknown handles. */
	CHECK(cp_engine_dial(engine, NULL, &res) == CP_RESULT_NULL_PARAMETER);
	d = dial("caller-5", "*68102", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, NULL) == CP_RESULT_NULL_PARAMETER);
	d.uuid = NULL;
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_NULL_PARAMETER);
	d = dial("caller-5", "*68\xff", NULL, NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_CODE_BAD_CHARACTER);
	d = dial("caller-5", "*88102,hangup", "103", NULL);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_CODE_NOT_DIGITS);
	d = dial("caller 5", "*68", NULL, "101");
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_INVALID_ARGUMENT);
	CHECK(cp_engine_hangup(engine, NULL) == CP_RESULT_NULL_PARAMETER);
	CHECK(cp_engine_hangup(engine, "\xc3\x28") == CP_RESULT_INVALID_UTF8);
	CHECK(cp_engine_hangup((const struct cp_engine *) (void *) 0x1230, "x") == CP_RESULT_INVALID_HANDLE);
	CHECK(cp_engine_list(engine, NULL, CP_FORMAT_TEXT, NULL, 0, &n) == CP_RESULT_NULL_PARAMETER);
	CHECK(cp_result_message(CP_RESULT_SLOT_EMPTY, buf, sizeof(buf), &n) == CP_RESULT_OK);
	CHECK(!strcmp(buf, "no call is parked there"));
	CHECK(cp_result_message(12345, small, sizeof(small), &n) == CP_RESULT_OK && n == sizeof(small) - 1);

	test_command();

	/* Reload keeps the engine going. */
	CHECK(cp_engine_reload(engine, config) == CP_RESULT_OK);

	/* An engine with its own timer thread starts and stops cleanly. */
	CHECK(cp_engine_new(&host, config, 0, &threaded) == CP_RESULT_OK);
	d = dial("caller-6", "*68", NULL, "102");
	CHECK(cp_engine_dial(threaded, &d, &res) == CP_RESULT_OK);
	CHECK(cp_engine_advance(threaded, 1) == CP_RESULT_NOT_SUPPORTED);
	cp_engine_free(threaded);
	CHECK(cp_engine_hangup(threaded, "caller-6") == CP_RESULT_INVALID_HANDLE);

	cp_engine_free(engine);
	cp_config_free(config);
	CHECK(cp_engine_dial(engine, &d, &res) == CP_RESULT_INVALID_HANDLE);
	free(sw);

	printf("c abi: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
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
