/*  sluice_example.c - the three roles of libsluice in one small program,
    built against the installed library:

      cc sluice_example.c $(pkg-config --cflags --libs sluice) -o sluice_example

      sluice_example produce BROKER STREAM NAME N     publish {"n":1}..{"n":N}, exactly once
      sluice_example read BROKER STREAM FROM NAME N   print N values as JSON lines, then commit
      sluice_example member BROKER GROUP IN OUT N     wrap N input values as {"in": VALUE}

    A producer named NAME that is run again sends its input again from the
    start; the broker keeps every record once. Exit code 0 on success, 1 on
    a failure (said on stderr), 2 for a usage error.
*/
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000

static int
produce (const char *broker, const char *stream, const char *name, long n)
{
    sluice_producer_t *producer = sluice_producer_new (broker, stream, name);
    if (!producer) {
        fprintf (stderr, "produce: bad broker, stream or name\n");
        return 2;
    }
    int rc = sluice_producer_connect (producer, TIMEOUT_MS);
    for (long i = 1; rc == 0 && i <= n; i++) {
        char json[64];
        snprintf (json, sizeof json, "{\"n\":%ld}", i);
        rc = sluice_producer_send_json (producer, NULL, json);
    }
    if (rc == 0) {
        rc = sluice_producer_flush (producer, TIMEOUT_MS);
    }
    if (rc == 0) {
        printf ("confirmed %llu (broker had %llu before)\n",
                (unsigned long long)sluice_producer_confirmed (producer),
                (unsigned long long)sluice_producer_acked (producer));
    }
    else {
        fprintf (stderr, "produce: %s\n", sluice_strerror (rc));
    }
    sluice_producer_destroy (&producer);
    return rc ? 1 : 0;
}

static int
read_stream (const char *broker, const char *stream, const char *from, const char *name, long n)
{
    sluice_reader_t *reader = sluice_reader_new (broker, stream, from, name);
    if (!reader) {
        fprintf (stderr, "read: bad broker, stream, position or name\n");
        return 2;
    }
    int rc = 0;
    for (long i = 0; rc == 0 && i < n; i++) {
        sluice_record_t record;
        rc = sluice_reader_next (reader, &record, TIMEOUT_MS);
        if (rc == 0) {
            char *json = sluice_record_value_json (&record);
            printf ("%llu %s\n", (unsigned long long)record.offset, json ? json : "?");
            free (json);
        }
    }
    if (rc == 0 && strcmp (name, "-") != 0) {
        rc = sluice_reader_commit (reader, TIMEOUT_MS);
    }
    if (rc) {
        fprintf (stderr, "read: %s\n", sluice_strerror (rc));
    }
    sluice_reader_destroy (&reader);
    return rc ? 1 : 0;
}

static int
member (const char *broker, const char *group, const char *in, const char *out, long n)
{
    sluice_member_t *self = sluice_member_new (broker, group, in, out, NULL);
    if (!self) {
        fprintf (stderr, "member: bad broker or names\n");
        return 2;
    }
    int rc = sluice_member_join (self, TIMEOUT_MS);
    long done = 0;
    while (rc == 0 && done < n) {
        int count = sluice_member_work (self, TIMEOUT_MS);
        if (count < 0) {
            rc = count;
            break;
        }
        sluice_record_t record;
        while (sluice_member_record (self, &record) == 1) {
            char *value = sluice_record_value_json (&record);
            if (value && strcmp (value, "\"bad\"") == 0) {
                rc = sluice_member_fail (self, record.offset, "bad input", true);
            }
            else {
                size_t size = (value ? strlen (value) : 4) + 16;
                char *json = malloc (size);
                if (!json) {
                    rc = SLUICE_ENOMEM;
                }
                else {
                    snprintf (json, size, "{\"in\":%s}", value ? value : "null");
                    rc = sluice_member_emit_json (self, NULL, json);
                    free (json);
                }
            }
            free (value);
            done++;
        }
        if (rc == 0) {
            rc = sluice_member_done (self);
        }
    }
    if (rc == 0) {
        rc = sluice_member_leave (self);
        printf ("processed %ld\n", done);
    }
    else {
        fprintf (stderr, "member: %s\n", sluice_strerror (rc));
    }
    sluice_member_destroy (&self);
    return rc ? 1 : 0;
}

int
main (int argc, char **argv)
{
    setvbuf (stdout, NULL, _IOLBF, 0); //  each record's line as it comes, even into a pipe
    if (argc == 6 && strcmp (argv[1], "produce") == 0) {
        return produce (argv[2], argv[3], strcmp (argv[4], "-") ? argv[4] : NULL, atol (argv[5]));
    }
    if (argc == 7 && strcmp (argv[1], "read") == 0) {
        return read_stream (argv[2], argv[3], argv[4], argv[5], atol (argv[6]));
    }
    if (argc == 7 && strcmp (argv[1], "member") == 0) {
        return member (argv[2], argv[3], argv[4], argv[5], atol (argv[6]));
    }
    fprintf (stderr,
             "usage: sluice_example produce BROKER STREAM NAME|- N\n"
             "       sluice_example read BROKER STREAM FROM NAME|- N\n"
             "       sluice_example member BROKER GROUP IN OUT N\n"
             "libsluice %s\n",
             sluice_version ());
    return 2;
}
