/*  test_pipeline.c - the pipeline file of `sluice run` (cli/run/pipeline.h):
    valid files, each class of error with its FILE:LINE:COLUMN, command-line
    overrides, argument vectors, shell quoting, and hostile YAML.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline.h"
#include "sl_error.h"

static char s_err[1024];

static sl_pipeline_t *
s_parse (const char *text)
{
    s_err[0] = '\0';
    return sl_pipeline_parse (text, strlen (text), "p.yaml", "base", s_err, sizeof s_err);
}

//  Parses and checks; the pipeline or NULL with s_err set.
static sl_pipeline_t *
s_load (const char *text)
{
    sl_pipeline_t *pl = s_parse (text);
    if (pl && sl_pipeline_check (pl, s_err, sizeof s_err) != 0) {
        sl_pipeline_destroy (&pl);
    }
    return pl;
}

//  The argument vector of a stage's member as one shell line.
static char *
s_line (sl_pipeline_t *pl, size_t index, int member)
{
    const sl_stage_t *s = sl_pipeline_stage (pl, index);
    cr_assert_not_null (s);
    char **argv = sl_pipeline_argv (pl, s, member, "prog");
    cr_assert_not_null (argv);
    char *line = sl_shell_join (argv);
    sl_argv_free (&argv);
    cr_assert_null (argv);
    return line;
}

static void
s_expect_error (const char *text, const char *want)
{
    sl_pipeline_t *pl = s_load (text);
    cr_assert_null (pl, "accepted: %s", text);
    cr_assert (strstr (s_err, want), "error '%s' does not contain '%s'", s_err, want);
}

static const char *s_full = "broker:\n"
                            "  data: d\n"
                            "  listen: tcp://127.0.0.1:7700\n"
                            "  fsync: true\n"
                            "  stream-retention: ['a.*:age=1h', 'b:records=5']\n"
                            "sources:\n"
                            "  - name: gen\n"
                            "    stream: in\n"
                            "    generate: 100\n"
                            "    rate: 2.5\n"
                            "  - stream: in2\n"
                            "    files: [a.jsonl, /abs/b.jsonl]\n"
                            "    producer: imp\n"
                            "    strict: false\n"
                            "groups:\n"
                            "  - name: g.x\n"
                            "    members: 3\n"
                            "    in: in\n"
                            "    out: out\n"
                            "    lua: s.lua\n"
                            "    option:\n"
                            "      - a=1\n"
                            "      - b=two words\n"
                            "sinks:\n"
                            "  - stream: out\n"
                            "    from: beginning\n"
                            "    exit-at-end: yes\n"
                            "    output: o.jsonl\n"
                            "  - name: counter\n"
                            "    stream: in\n"
                            "    count: 10\n"
                            "    reader: r1\n";

Test (pipeline, full_file_in_start_order)
{
    sl_pipeline_t *pl = s_load (s_full);
    cr_assert_not_null (pl, "%s", s_err);
    cr_assert_eq (sl_pipeline_size (pl), 6);
    sl_stage_kind_t kinds[] = {SL_STAGE_BROKER, SL_STAGE_SINK,   SL_STAGE_SINK,
                               SL_STAGE_GROUP,  SL_STAGE_SOURCE, SL_STAGE_SOURCE};
    const char *names[] = {"broker", "sink-1", "counter", "g.x", "gen", "source-2"};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq (sl_pipeline_stage (pl, i)->kind, kinds[i], "stage %zu", i);
        cr_assert_str_eq (sl_pipeline_stage (pl, i)->name, names[i]);
    }
    cr_assert_null (sl_pipeline_stage (pl, 6));
    cr_assert_str_eq (sl_pipeline_endpoint (pl), "tcp://127.0.0.1:7700");

    char *line = s_line (pl, 0, 1);
    cr_assert_str_eq (line, "prog --data base/d --listen tcp://127.0.0.1:7700 --fsync "
                            "--stream-retention 'a.*:age=1h' --stream-retention b:records=5");
    free (line);
    const sl_stage_t *sink = sl_pipeline_stage (pl, 1);
    cr_assert (sink->finite && sink->after_sources && !sink->durable);
    cr_assert_str_eq (sink->output, "base/o.jsonl");
    line = s_line (pl, 1, 1);
    cr_assert_str_eq (line, "prog --broker tcp://127.0.0.1:7700 --stream out --from beginning "
                            "--exit-at-end");
    free (line);
    const sl_stage_t *counter = sl_pipeline_stage (pl, 2);
    cr_assert (counter->finite && !counter->after_sources && counter->durable);
    line = s_line (pl, 2, 1);
    cr_assert_str_eq (line, "prog --broker tcp://127.0.0.1:7700 --stream in --count 10 "
                            "--name r1");
    free (line);
    cr_assert_eq (sl_pipeline_stage (pl, 3)->members, 3);
    line = s_line (pl, 3, 3);
    cr_assert_str_eq (line, "prog --broker tcp://127.0.0.1:7700 --group g.x --member g.x-3 "
                            "--in in --out out --lua base/s.lua --option a=1 "
                            "--option 'b=two words'");
    free (line);
    line = s_line (pl, 4, 1);
    cr_assert_str_eq (line, "prog --broker tcp://127.0.0.1:7700 --stream in --generate 100 "
                            "--rate 2.5");
    free (line);
    cr_assert (!sl_pipeline_stage (pl, 4)->reads_stdin);
    line = s_line (pl, 5, 1);
    cr_assert_str_eq (line, "prog --broker tcp://127.0.0.1:7700 --stream in2 --name imp -- "
                            "base/a.jsonl /abs/b.jsonl");
    free (line);
    sl_pipeline_destroy (&pl);
    cr_assert_null (pl);
    sl_pipeline_destroy (&pl);
}

Test (pipeline, defaults)
{
    sl_pipeline_t *pl = s_load ("sinks:\n  - stream: s\n");
    cr_assert_not_null (pl, "%s", s_err);
    cr_assert_str_eq (sl_pipeline_endpoint (pl), "tcp://127.0.0.1:7600");
    char *line = s_line (pl, 0, 1);
    //  Defaults are relative to the current directory, not the file's.
    cr_assert_str_eq (line, "prog --data sluice-data --listen tcp://127.0.0.1:7600");
    free (line);
    const sl_stage_t *sink = sl_pipeline_stage (pl, 1);
    cr_assert_str_eq (sink->name, "sink-1");
    cr_assert (!sink->finite);
    cr_assert_null (sink->output);
    sl_pipeline_destroy (&pl);
}

Test (pipeline, wildcard_listen_is_reached_on_loopback)
{
    const char *cases[][2] = {
        {"tcp://*:7000", "tcp://127.0.0.1:7000"},
        {"tcp://0.0.0.0:7000", "tcp://127.0.0.1:7000"},
        {"tcp://[::]:7000", "tcp://[::1]:7000"},
        {"tcp://10.1.2.3:7000", "tcp://10.1.2.3:7000"},
    };
    for (size_t i = 0; i < 4; i++) {
        char text[128];
        snprintf (text, sizeof text, "broker:\n  listen: '%s'\n", cases[i][0]);
        sl_pipeline_t *pl = s_load (text);
        cr_assert_not_null (pl, "%s", s_err);
        cr_assert_str_eq (sl_pipeline_endpoint (pl), cases[i][1]);
        sl_pipeline_destroy (&pl);
    }
}

Test (pipeline, stdin_sources)
{
    sl_pipeline_t *pl = s_load ("sources:\n  - stream: a\n");
    cr_assert_not_null (pl, "%s", s_err);
    cr_assert (sl_pipeline_stage (pl, 1)->reads_stdin);
    sl_pipeline_destroy (&pl);
    pl = s_load ("sources:\n  - stream: a\n    files: ['-']\n");
    cr_assert_not_null (pl, "%s", s_err);
    cr_assert (sl_pipeline_stage (pl, 1)->reads_stdin);
    char *line = s_line (pl, 1, 1);
    cr_assert (strstr (line, " -- -"), "%s", line); //  "-" is not made a path
    free (line);
    sl_pipeline_destroy (&pl);
    s_expect_error ("sources:\n  - stream: a\n  - stream: b\n", "more than one source reads");
}

Test (pipeline, set_overrides)
{
    sl_pipeline_t *pl = s_parse (s_full);
    cr_assert_not_null (pl, "%s", s_err);
    cr_assert_eq (sl_pipeline_set (pl, "broker.listen=tcp://127.0.0.1:9000", s_err, sizeof s_err),
                  0, "%s", s_err);
    cr_assert_eq (sl_pipeline_set (pl, "broker.data=rel/dir", s_err, sizeof s_err), 0);
    cr_assert_eq (sl_pipeline_set (pl, "broker.fsync=false", s_err, sizeof s_err), 0);
    //  A name with a dot: the longest stage name that fits is taken.
    cr_assert_eq (sl_pipeline_set (pl, "g.x.members=5", s_err, sizeof s_err), 0, "%s", s_err);
    cr_assert_eq (sl_pipeline_set (pl, "gen.rate=7", s_err, sizeof s_err), 0, "%s", s_err);
    cr_assert_eq (sl_pipeline_check (pl, s_err, sizeof s_err), 0, "%s", s_err);
    cr_assert_str_eq (sl_pipeline_endpoint (pl), "tcp://127.0.0.1:9000");
    char *line = s_line (pl, 0, 1);
    //  Values from the command line stay relative to the current directory.
    cr_assert_str_eq (line, "prog --data rel/dir --listen tcp://127.0.0.1:9000 "
                            "--stream-retention 'a.*:age=1h' --stream-retention b:records=5");
    free (line);
    cr_assert_eq (sl_pipeline_stage (pl, 3)->members, 5);
    line = s_line (pl, 4, 1);
    cr_assert (strstr (line, "--rate 7"), "%s", line);
    free (line);

    cr_assert_eq (sl_pipeline_set (pl, "nosuch.rate=1", s_err, sizeof s_err), SL_EINVAL);
    cr_assert (strstr (s_err, "no stage of that name"), "%s", s_err);
    cr_assert_eq (sl_pipeline_set (pl, "broker.nope=1", s_err, sizeof s_err), SL_EINVAL);
    cr_assert (strstr (s_err, "--set broker.nope=1: unknown key 'nope'"), "%s", s_err);
    cr_assert_eq (sl_pipeline_set (pl, "broker.listen", s_err, sizeof s_err), SL_EINVAL);
    cr_assert_eq (sl_pipeline_set (pl, "gen.name=x", s_err, sizeof s_err), SL_EINVAL);
    cr_assert_eq (sl_pipeline_set (pl, "g.x.members=0", s_err, sizeof s_err), SL_EINVAL);
    cr_assert_eq (sl_pipeline_set (pl, "broker.fsync=maybe", s_err, sizeof s_err), SL_EINVAL);
    sl_pipeline_destroy (&pl);
}

Test (pipeline, malformed_yaml_has_line_and_column)
{
    s_expect_error ("sinks:\n  - stream: [a\n", "p.yaml:3:1: ");
    s_expect_error ("broker:\n  data: d\n   listen: x\n", "p.yaml:3:");
    s_expect_error ("sinks:\n\t- stream: a\n", "p.yaml:2:");
    s_expect_error ("a: 'unterminated\n", "p.yaml:");
}

Test (pipeline, unknown_keys_are_named_with_their_line)
{
    s_expect_error ("sink:\n  - stream: a\n", "p.yaml:1:1: unknown key 'sink'");
    s_expect_error ("sinks:\n  - stream: a\n    fromm: end\n",
                    "p.yaml:3:5: unknown key 'fromm' in sink 'sink-1': not a sluice-sink flag");
    s_expect_error ("broker:\n  retain: 1d\n", "p.yaml:2:3: unknown key 'retain'");
    s_expect_error ("groups:\n  - in: a\n    out: b\n    group: g\n",
                    "p.yaml:4:5: unknown key 'group'");
    s_expect_error ("sources:\n  - stream: a\n    broker: tcp://x:1\n",
                    "gives every stage the broker's address");
    //  Flags sluice run sets itself, and keys of other kinds.
    s_expect_error ("sinks:\n  - stream: a\n    list: true\n", "unknown key 'list'");
    s_expect_error ("sinks:\n  - stream: a\n    members: 2\n", "unknown key 'members'");
    s_expect_error ("sources:\n  - stream: a\n    name: x\n    output: f\n",
                    "unknown key 'output' in source 'x'");
}

Test (pipeline, wrong_types)
{
    s_expect_error ("broker: [1]\n", "p.yaml:1:9: a broker is a map");
    s_expect_error ("sinks:\n  stream: a\n", "p.yaml:2:3: 'sinks' is a list");
    s_expect_error ("- a\n", "p.yaml:1:1: a pipeline is a map");
    s_expect_error ("sinks:\n  - stream: {a: 1}\n", "p.yaml:2:13: 'stream' takes one value, "
                                                    "not a map");
    s_expect_error ("sinks:\n  - stream: [a, b]\n", "'stream' takes one value, not a list");
    s_expect_error ("sinks:\n  - stream:\n", "p.yaml:2:12: 'stream' has no value");
    s_expect_error ("sinks:\n  - stream: a\n    exit-at-end: 'true'\n",
                    "p.yaml:3:18: 'exit-at-end' is a switch");
    s_expect_error ("sinks:\n  - stream: a\n    exit-at-end: 1\n", "is a switch");
    s_expect_error ("groups:\n  - {in: a, out: b, members: 65}\n", "'members' must be");
    s_expect_error ("groups:\n  - {in: a, out: b, members: two}\n", "'members' must be");
    s_expect_error ("groups:\n  - {in: a, out: b, option: [[x]]}\n", "takes one value");
    s_expect_error ("sinks:\n  - 7\n", "a sink is a map");
    s_expect_error ("sinks:\n  - {? [a] : b}\n", "a key must be a plain word");
}

Test (pipeline, duplicates_missing_and_bad_names)
{
    s_expect_error ("sinks:\n  - stream: a\n    stream: b\n",
                    "p.yaml:3:5: 'stream' given twice (first on line 2)");
    s_expect_error ("sinks: []\nsinks: []\n", "'sinks' given twice");
    s_expect_error ("sinks:\n  - {name: x, stream: a}\nsources:\n  - {name: x, stream: a, "
                    "generate: 1}\n",
                    "two stages are named 'x'");
    s_expect_error ("sinks:\n  - {name: broker, stream: a}\n", "two stages are named 'broker'");
    s_expect_error ("sinks:\n  - from: end\n", "p.yaml:2:5: 'sink-1' needs 'stream'");
    s_expect_error ("groups:\n  - in: a\n", "'group-1' needs 'out'");
    s_expect_error ("sinks:\n  - {name: 'a b', stream: a}\n", "bad name 'a b'");
    s_expect_error ("sinks:\n  - {name: .x, stream: a}\n", "bad name");
    s_expect_error ("", "p.yaml: the file is empty");
    s_expect_error ("# only a comment\n", "the file is empty");
}

Test (pipeline, hostile_nesting_is_bounded)
{
    size_t n = 100000;
    char *text = malloc (2 * n + 1);
    cr_assert_not_null (text);
    memset (text, '[', n);
    memset (text + n, ']', n);
    text[2 * n] = '\0';
    s_expect_error (text, "nested deeper than 8 levels");
    free (text);
    //  The same in block style, inside a stage: "-" ever deeper.
    char block[1024] = "sinks:\n";
    for (int i = 1; i <= 12; i++) {
        size_t len = strlen (block);
        snprintf (block + len, sizeof block - len, "%*s-\n", i * 2, "");
    }
    s_expect_error (block, "nested deeper than 8 levels");
    s_expect_error ("a: {b: {c: {d: {e: {f: {g: {h: {i: 1}}}}}}}}\n", "nested deeper");
}

Test (pipeline, hostile_counts_are_bounded)
{
    //  30,000 list items: past the node bound, refused before it is all kept.
    size_t items = 30000;
    char *text = malloc (items * 3 + 64);
    cr_assert_not_null (text);
    strcpy (text, "sinks: [");
    size_t len = strlen (text);
    for (size_t i = 0; i < items; i++) {
        memcpy (text + len, "a, ", 3);
        len += 3;
    }
    strcpy (text + len, "a]\n");
    s_expect_error (text, "more than 20000 YAML nodes");
    free (text);
    //  257 stages, each valid.
    size_t stages = 257;
    text = malloc (stages * 24 + 16);
    cr_assert_not_null (text);
    strcpy (text, "sinks:\n");
    for (size_t i = 0; i < stages; i++) {
        strcat (text, "  - {stream: s}\n");
    }
    s_expect_error (text, "more than 256 stages");
    free (text);
    //  A repeated flag with 300 values.
    text = malloc (300 * 8 + 64);
    cr_assert_not_null (text);
    strcpy (text, "broker:\n  stream-retention: [");
    for (size_t i = 0; i < 300; i++) {
        strcat (text, "x:a=1,");
    }
    strcat (text, "y]\n");
    s_expect_error (text, "has more than 256 items");
    free (text);
}

Test (pipeline, aliases_are_refused)
{
    //  The classic expansion bomb: refused at the first alias.
    s_expect_error ("a: &a [x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
                    "p.yaml:2:8: aliases (*a) are not supported");
    s_expect_error ("broker: &b {data: d}\nsinks:\n  - stream: *s\n", "aliases");
    //  An anchor alone is harmless and ignored.
    sl_pipeline_t *pl = s_load ("sinks:\n  - &s {stream: a}\n");
    cr_assert_not_null (pl, "%s", s_err);
    sl_pipeline_destroy (&pl);
}

Test (pipeline, hostile_scalars_and_documents)
{
    size_t n = SL_PL_MAX_SCALAR + 10;
    char *text = malloc (n + 64);
    cr_assert_not_null (text);
    strcpy (text, "sinks:\n  - stream: ");
    size_t len = strlen (text);
    memset (text + len, 'a', n);
    strcpy (text + len + n, "\n");
    s_expect_error (text, "a value longer than 65536 bytes");
    free (text);
    s_expect_error ("sinks:\n  - stream: \"a\\0b\"\n", "NUL character");
    s_expect_error ("sinks: []\n---\nsinks: []\n", "more than one document");
    s_expect_error ("sinks:\n  - stream: \xff\xfe\n", "p.yaml:");
    //  Larger than the file bound, whatever it holds.
    n = SL_PL_MAX_FILE + 1;
    text = malloc (n + 1);
    cr_assert_not_null (text);
    memset (text, '#', n);
    text[n] = '\0';
    s_expect_error (text, "larger than 1048576 bytes");
    free (text);
}

Test (pipeline, load_from_file_resolves_against_its_directory)
{
    char dir[] = "/tmp/sl-pipeline-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char path[256];
    snprintf (path, sizeof path, "%s/p.yaml", dir);
    FILE *f = fopen (path, "w");
    cr_assert_not_null (f);
    fputs ("groups:\n  - {name: g, in: a, out: b, lua: x.lua, plugin: /abs/p.so}\n", f);
    fclose (f);
    char err[512];
    sl_pipeline_t *pl = sl_pipeline_load (path, err, sizeof err);
    cr_assert_not_null (pl, "%s", err);
    cr_assert_eq (sl_pipeline_check (pl, err, sizeof err), 0, "%s", err);
    char *line = s_line (pl, 1, 1);
    char want[512];
    snprintf (want, sizeof want, "--lua %s/x.lua --plugin /abs/p.so", dir);
    cr_assert (strstr (line, want), "%s", line);
    free (line);
    sl_pipeline_destroy (&pl);
    remove (path);
    rmdir (dir);
    pl = sl_pipeline_load (path, err, sizeof err);
    cr_assert_null (pl);
    cr_assert (strstr (err, "p.yaml: cannot open"), "%s", err);
}

Test (pipeline, shell_join_quotes_what_the_shell_would_change)
{
    char *argv[] = {"prog", "plain-1.2:3", "two words", "it's", "", "$HOME", "a\"b", NULL};
    char *line = sl_shell_join (argv);
    cr_assert_str_eq (line, "prog plain-1.2:3 'two words' 'it'\\''s' '' '$HOME' 'a\"b'");
    free (line);
}

Test (pipeline, keys_lists)
{
    const char *const *keys = sl_pipeline_keys (SL_STAGE_SINK);
    bool output = false, reader = false, stream = false;
    for (size_t i = 0; keys[i]; i++) {
        output = output || strcmp (keys[i], "output") == 0;
        reader = reader || strcmp (keys[i], "reader") == 0;
        stream = stream || strcmp (keys[i], "stream") == 0;
    }
    cr_assert (output && reader && stream);
    cr_assert_str_eq (sl_stage_kind_name (SL_STAGE_GROUP), "group");
}

Test (pipeline, keyed_group_keys)
{
    sl_pipeline_t *pl = s_load ("groups:\n"
                                "  - name: peruser\n"
                                "    in: clicks\n"
                                "    out: clicks.10s\n"
                                "    key: user\n"
                                "    window: tumbling:10s\n"
                                "    agg: count,sum:amount\n"
                                "    time: ts\n"
                                "    lateness: 5s\n"
                                "    idle: 1m\n"
                                "    leases: 2\n"
                                "    shares: 4\n");
    cr_assert_not_null (pl, "%s", s_err);
    char *line = s_line (pl, 1, 1);
    cr_assert (strstr (line, "--key user --window tumbling:10s --agg count,sum:amount --time ts "
                             "--lateness 5s --idle 1m --leases 2"),
               "%s", line);
    cr_assert (strstr (line, "--shares 4"), "%s", line);
    free (line);
    sl_pipeline_destroy (&pl);
}
