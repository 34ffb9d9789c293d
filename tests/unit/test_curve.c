/*  test_curve.c - sl_curve: key files (keygen, load, hostile files,
    permissions), rights patterns, and the authenticator against real CURVE
    handshakes on loopback (allowed, unknown, plain, removed, swapped keys,
    per-stream rights, the live feed's domain, logging once).
*/
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

static char s_dir[256];

static void
s_setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/sl-test-curve-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    zsys_init ();
    zsys_set_logstream (NULL);
}

static void
s_teardown (void)
{
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    int rc = system (cmd);
    (void)rc;
}

TestSuite (curve, .init = s_setup, .fini = s_teardown, .timeout = 60);

static char *
s_path (const char *name)
{
    return zsys_sprintf ("%s/%s", s_dir, name);
}

static void
s_write (const char *name, const char *text, mode_t mode)
{
    char *path = s_path (name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert (fd >= 0, "%s", path);
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    chmod (path, mode);
    zstr_free (&path);
}

//  Runs fn with stderr going to a file; returns what was written (caller frees).
static char *
s_capture_begin (int *saved)
{
    char *path = s_path ("stderr.txt");
    fflush (stderr);
    *saved = dup (STDERR_FILENO);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert (fd >= 0);
    dup2 (fd, STDERR_FILENO);
    close (fd);
    return path;
}

static char *
s_capture_end (int saved, char *path)
{
    fflush (stderr);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    FILE *f = fopen (path, "r");
    cr_assert_not_null (f);
    char *text = calloc (1, 65536);
    size_t n = fread (text, 1, 65535, f);
    text[n] = '\0';
    fclose (f);
    zstr_free (&path);
    return text;
}

static int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle)) {
        n++;
    }
    return n;
}

//  ---------------------------------------------------------------------
//  Key files

Test (curve, keygen_writes_a_loadable_pair_with_a_private_secret)
{
    char *base = s_path ("alice");
    const char *why = NULL;
    cr_assert_eq (sl_curve_keygen (base, &why), 0, "%s", why ? why : "");
    char *pub = zsys_sprintf ("%s.key", base);
    char *sec = zsys_sprintf ("%s.key_secret", base);
    struct stat st;
    cr_assert_eq (stat (sec, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600, "secret mode %o", st.st_mode & 0777);
    cr_assert_eq (stat (pub, &st), 0);
    cr_assert_eq (st.st_mode & 0077, 0044, "public mode %o", st.st_mode & 0777);

    int err = -1;
    zcert_t *pair = sl_curve_load_secret (sec, &err);
    cr_assert_not_null (pair, "err %d", err);
    zcert_t *public = sl_curve_load_public (pub, &err);
    cr_assert_not_null (public);
    cr_assert_str_eq (zcert_public_txt (pair), zcert_public_txt (public));
    cr_assert_str_eq (zcert_meta (public, "name"), "alice");
    //  NAME.key names the pair too: its _secret sibling is read.
    zcert_t *again = sl_curve_load_secret (pub, &err);
    cr_assert_not_null (again);
    cr_assert_str_eq (zcert_secret_txt (again), zcert_secret_txt (pair));
    //  CZMQ reads the files as its own (the format is zcert_save's).
    zcert_t *czmq = zcert_load (sec);
    cr_assert_not_null (czmq);
    cr_assert_str_eq (zcert_secret_txt (czmq), zcert_secret_txt (pair));
    //  The public file holds no secret.
    FILE *f = fopen (pub, "r");
    char text[2048];
    size_t n = fread (text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose (f);
    cr_assert_null (strstr (text, "secret-key"));
    cr_assert_null (strstr (text, zcert_secret_txt (pair)));

    zcert_destroy (&pair);
    zcert_destroy (&public);
    zcert_destroy (&again);
    zcert_destroy (&czmq);
    zstr_free (&pub);
    zstr_free (&sec);
    zstr_free (&base);
}

Test (curve, keygen_never_overwrites_and_checks_the_name)
{
    char *base = s_path ("bob");
    cr_assert_eq (sl_curve_keygen (base, NULL), 0);
    char *sec = zsys_sprintf ("%s.key_secret", base);
    zcert_t *first = sl_curve_load_secret (sec, NULL);
    const char *why = NULL;
    cr_assert_eq (sl_curve_keygen (base, &why), SL_EINVAL);
    cr_assert_not_null (why);
    zcert_t *still = sl_curve_load_secret (sec, NULL);
    cr_assert_str_eq (zcert_secret_txt (first), zcert_secret_txt (still));
    cr_assert_eq (sl_curve_keygen ("", &why), SL_EINVAL);
    cr_assert_eq (sl_curve_keygen (NULL, &why), SL_EINVAL);
    char *bad = s_path ("bad name!");
    cr_assert_eq (sl_curve_keygen (bad, &why), SL_EINVAL);
    char *nodir = s_path ("missing/dir/key");
    cr_assert_neq (sl_curve_keygen (nodir, &why), 0);
    zcert_destroy (&first);
    zcert_destroy (&still);
    zstr_free (&bad);
    zstr_free (&nodir);
    zstr_free (&sec);
    zstr_free (&base);
}

Test (curve, missing_and_bad_files_are_errors_not_crashes)
{
    int err = 0;
    char *missing = s_path ("nope.key_secret");
    cr_assert_null (sl_curve_load_secret (missing, &err));
    cr_assert_eq (err, SL_ENOTFOUND);
    cr_assert_null (sl_curve_load_public (missing, &err));
    cr_assert_eq (err, SL_ENOTFOUND);
    cr_assert_null (sl_curve_load_secret ("", &err));
    cr_assert_eq (err, SL_EINVAL);
    cr_assert_null (sl_curve_load_public (NULL, &err));
    cr_assert_eq (err, SL_EINVAL);

    const char *cases[] = {
        "",                                    //  empty
        "garbage \x01\x02\xff\n\n\n",          //  not a certificate
        "curve\n    public-key = \"short\"\n", //  key too short
        "curve\n    public-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"\n", //  not Z85
        "curve\n    public-key = \"0000000000000000000000000000000000000000\"\n", //  all zero
        "metadata\n    name = \"x\"\n",                                           //  no key at all
        "curve\n    public-key = \"",                                             //  truncated
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_write ("bad.key", cases[i], 0600);
        char *path = s_path ("bad.key");
        err = 0;
        cr_assert_null (sl_curve_load_public (path, &err), "case %zu", i);
        cr_assert_eq (err, SL_EINVAL, "case %zu: %d", i, err);
        cr_assert_null (sl_curve_load_secret (path, &err), "case %zu", i);
        zstr_free (&path);
    }
    //  A public file is not a key pair.
    zcert_t *cert = zcert_new ();
    char *pub = s_path ("pub.key");
    cr_assert_eq (zcert_save_public (cert, pub), 0);
    cr_assert_null (sl_curve_load_secret (pub, &err));
    cr_assert_eq (err, SL_EINVAL);
    zcert_t *ok = sl_curve_load_public (pub, &err);
    cr_assert_not_null (ok);
    //  A directory, and a file claiming to be huge.
    cr_assert_null (sl_curve_load_public (s_dir, &err));
    cr_assert_eq (err, SL_EINVAL);
    char *big = s_path ("big.key");
    cr_assert_eq (truncate (pub, 0), 0);
    FILE *f = fopen (big, "w");
    cr_assert_eq (fseek (f, SL_CURVE_FILE_MAX + 1, SEEK_SET), 0);
    fputc ('x', f);
    fclose (f);
    cr_assert_null (sl_curve_load_public (big, &err));
    cr_assert_eq (err, SL_ETOOBIG);
    zcert_destroy (&cert);
    zcert_destroy (&ok);
    zstr_free (&big);
    zstr_free (&pub);
    zstr_free (&missing);
}

Test (curve, a_secret_readable_by_others_is_warned_about)
{
    char *base = s_path ("carol");
    cr_assert_eq (sl_curve_keygen (base, NULL), 0);
    char *sec = zsys_sprintf ("%s.key_secret", base);
    int saved;
    char *path = s_capture_begin (&saved);
    zcert_t *quiet = sl_curve_load_secret (sec, NULL);
    char *text = s_capture_end (saved, path);
    cr_assert_not_null (quiet);
    cr_assert_null (strstr (text, "chmod"), "%s", text);
    free (text);

    chmod (sec, 0644);
    path = s_capture_begin (&saved);
    zcert_t *loud = sl_curve_load_secret (sec, NULL);
    text = s_capture_end (saved, path);
    cr_assert_not_null (loud, "still loads");
    cr_assert_not_null (strstr (text, "chmod 600"), "%s", text);
    cr_assert_not_null (strstr (text, sec), "%s", text);
    free (text);
    zcert_destroy (&quiet);
    zcert_destroy (&loud);
    zstr_free (&sec);
    zstr_free (&base);
}

Test (curve, patterns)
{
    cr_assert (sl_curve_patterns_match ("*", "orders"));
    cr_assert (sl_curve_patterns_match ("orders.*,logs", "orders.eu"));
    cr_assert (sl_curve_patterns_match ("orders.*, logs", "logs"));
    cr_assert_not (sl_curve_patterns_match ("orders.*,logs", "orders"));
    cr_assert_not (sl_curve_patterns_match ("orders.*,logs", "logs2"));
    cr_assert_not (sl_curve_patterns_match ("", "orders"));
    cr_assert_not (sl_curve_patterns_match (",,, ,", "orders"));
    cr_assert_not (sl_curve_patterns_match (NULL, "orders"));
    char huge[600];
    memset (huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    cr_assert_not (sl_curve_patterns_match (huge, "a"));
}

//  ---------------------------------------------------------------------
//  The authenticator, with real handshakes

typedef struct {
    zcert_t *server_cert;
    zsock_t *server;
    int port;
} server_t;

static void
s_server_start (server_t *srv, sl_curve_auth_t *auth, int type, const char *domain)
{
    srv->server_cert = zcert_new ();
    srv->server = zsock_new (type);
    cr_assert_eq (sl_curve_server (srv->server, srv->server_cert, domain), 0);
    cr_assert_eq (sl_curve_auth_watch (auth, srv->server), 0);
    srv->port = zsock_bind (srv->server, "tcp://127.0.0.1:*");
    cr_assert (srv->port > 0);
}

static void
s_server_stop (server_t *srv)
{
    zsock_destroy (&srv->server);
    zcert_destroy (&srv->server_cert);
}

typedef enum { HS_OK, HS_AUTH, HS_PROTOCOL, HS_NONE } handshake_t;

//  Connects a DEALER (CURVE with cert, or plain when cert is NULL) and
//  waits, with a deadline, for its first handshake outcome. On HS_OK the
//  User-Id of a message it sends is put in user (when not NULL).
static handshake_t
s_connect (server_t *srv, int type, zcert_t *cert, char *user, size_t user_size)
{
    zsock_t *client = zsock_new (type);
    if (cert) {
        cr_assert_eq (sl_curve_client (client, cert, srv->server_cert), 0);
    }
    char ep[64];
    static int n = 0;
    snprintf (ep, sizeof ep, "inproc://test-curve-mon-%d", n++);
    cr_assert_eq (zmq_socket_monitor (zsock_resolve (client), ep,
                                      ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                                          ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL),
                  0);
    zsock_t *mon = zsock_new (ZMQ_PAIR);
    cr_assert_eq (zsock_connect (mon, "%s", ep), 0);
    cr_assert_eq (zsock_connect (client, "tcp://127.0.0.1:%d", srv->port), 0);
    handshake_t result = HS_NONE;
    zsock_set_rcvtimeo (mon, 5000);
    zmsg_t *event = zmsg_recv (mon);
    if (event) {
        uint16_t id;
        memcpy (&id, zframe_data (zmsg_first (event)), 2);
        result = id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED     ? HS_OK
                 : id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? HS_AUTH
                                                         : HS_PROTOCOL;
        zmsg_destroy (&event);
    }
    if (result == HS_OK && user && type == ZMQ_DEALER) {
        zstr_send (client, "hello");
        zsock_set_rcvtimeo (srv->server, 5000);
        zmsg_t *msg = zmsg_recv (srv->server);
        cr_assert_not_null (msg);
        zframe_t *id = zmsg_pop (msg);
        const char *uid = zframe_meta (zmsg_first (msg), "User-Id");
        snprintf (user, user_size, "%s", uid ? uid : "");
        zframe_destroy (&id);
        zmsg_destroy (&msg);
    }
    zmq_socket_monitor (zsock_resolve (client), NULL, 0);
    zsock_destroy (&client);
    zsock_destroy (&mon);
    return result;
}

static zcert_t *
s_client_key (const char *name, const char *rights)
{
    zcert_t *cert = zcert_new ();
    if (name) {
        char *path = zsys_sprintf ("%s/allow/%s.key", s_dir, name);
        FILE *f = fopen (path, "w");
        cr_assert_not_null (f);
        fprintf (f, "metadata\n%scurve\n    public-key = \"%s\"\n", rights ? rights : "",
                 zcert_public_txt (cert));
        fclose (f);
        zstr_free (&path);
    }
    return cert;
}

static sl_curve_auth_t *
s_auth_new (void)
{
    char *allow = s_path ("allow");
    mkdir (allow, 0755);
    int err = 0;
    sl_curve_auth_t *auth = sl_curve_auth_new (allow, &err);
    cr_assert_not_null (auth, "err %d", err);
    zstr_free (&allow);
    return auth;
}

Test (curve, allowed_key_connects_and_is_the_user_id)
{
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *alice = s_client_key ("alice", NULL);
    server_t srv;
    s_server_start (&srv, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN);
    char user[64] = "";
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, alice, user, sizeof user), HS_OK);
    cr_assert_str_eq (user, zcert_public_txt (alice));
    char name[64];
    cr_assert_eq (sl_curve_auth_check (auth, user, SL_RIGHT_PUBLISH, "x", name, sizeof name, NULL),
                  0);
    cr_assert_str_eq (name, "alice");
    cr_assert_eq (sl_curve_auth_refused (auth), 0);
    s_server_stop (&srv);
    zcert_destroy (&alice);
    sl_curve_auth_destroy (&auth);
    cr_assert_null (auth);
}

Test (curve, unknown_and_plain_clients_are_refused_and_logged_once)
{
    int saved;
    char *path = s_capture_begin (&saved);
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *alice = s_client_key ("alice", NULL);
    zcert_t *mallory = s_client_key (NULL, NULL);
    server_t srv;
    s_server_start (&srv, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (s_connect (&srv, ZMQ_DEALER, mallory, NULL, 0), HS_AUTH);
        cr_assert_eq (s_connect (&srv, ZMQ_DEALER, NULL, NULL, 0), HS_PROTOCOL);
    }
    //  The server's monitor events reach the handler asynchronously.
    int64_t deadline = sl_mono_ms () + 5000;
    while (sl_curve_auth_refused (auth) < 6 && sl_mono_ms () < deadline) {
        zclock_sleep (10);
    }
    cr_assert_eq (sl_curve_auth_refused (auth), 6);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, alice, NULL, 0), HS_OK);
    s_server_stop (&srv);
    sl_curve_auth_destroy (&auth);
    char *text = s_capture_end (saved, path);
    cr_assert_eq (s_count (text, zcert_public_txt (mallory)), 1, "%s", text);
    cr_assert_eq (s_count (text, "does not use CURVE"), 1, "%s", text);
    cr_assert_eq (s_count (text, zcert_public_txt (alice)), 0, "%s", text);
    free (text);
    zcert_destroy (&alice);
    zcert_destroy (&mallory);
}

Test (curve, wrong_broker_key_is_refused)
{
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *alice = s_client_key ("alice", NULL);
    server_t srv;
    s_server_start (&srv, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN);
    zcert_t *real = srv.server_cert;
    srv.server_cert = zcert_new (); //  the client is told another broker key
    cr_assert_neq (s_connect (&srv, ZMQ_DEALER, alice, NULL, 0), HS_OK);
    zcert_destroy (&srv.server_cert);
    srv.server_cert = real;
    s_server_stop (&srv);
    zcert_destroy (&alice);
    sl_curve_auth_destroy (&auth);
}

Test (curve, removed_key_is_refused_at_once_even_in_the_same_second)
{
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *a = s_client_key ("a", NULL);
    server_t srv;
    s_server_start (&srv, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN);
    char user[64];
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, a, user, sizeof user), HS_OK);
    //  Swap a for b of the same size within the same second: a change that
    //  CZMQ 4.2.1's zcertstore does not see.
    char *a_path = zsys_sprintf ("%s/allow/a.key", s_dir);
    cr_assert_eq (unlink (a_path), 0);
    zcert_t *b = s_client_key ("b", NULL);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, b, NULL, 0), HS_OK);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, a, NULL, 0), HS_AUTH);
    //  The broker's per-request check sees the removal too.
    const char *why = NULL;
    cr_assert_eq (sl_curve_auth_check (auth, user, SL_RIGHT_READ, "s", NULL, 0, &why), SL_EDENIED);
    cr_assert_not_null (strstr (why, "removed"));
    //  And a key added back is allowed again.
    char *text = zsys_sprintf ("curve\n    public-key = \"%s\"\n", zcert_public_txt (a));
    s_write ("allow/a2.key", text, 0644);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, a, NULL, 0), HS_OK);
    zstr_free (&text);
    zstr_free (&a_path);
    s_server_stop (&srv);
    zcert_destroy (&a);
    zcert_destroy (&b);
    sl_curve_auth_destroy (&auth);
}

Test (curve, rights_from_metadata)
{
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *full = s_client_key ("full", NULL);
    zcert_t *pub = s_client_key ("pub", "    publish = \"orders.*,logs\"\n");
    zcert_t *rd = s_client_key ("rd", "    read = \"*\"\n    work = \"in.*\"\n");
    cr_assert_eq (sl_curve_auth_reload (auth), 3);
    const char *k_full = zcert_public_txt (full);
    const char *k_pub = zcert_public_txt (pub);
    const char *k_rd = zcert_public_txt (rd);
    const char *why = NULL;
    cr_assert_eq (sl_curve_auth_check (auth, k_full, SL_RIGHT_PUBLISH, "x", NULL, 0, NULL), 0);
    cr_assert_eq (sl_curve_auth_check (auth, k_full, SL_RIGHT_WORK, "x", NULL, 0, NULL), 0);
    cr_assert_eq (sl_curve_auth_check (auth, k_pub, SL_RIGHT_PUBLISH, "orders.eu", NULL, 0, NULL),
                  0);
    cr_assert_eq (sl_curve_auth_check (auth, k_pub, SL_RIGHT_PUBLISH, "logs", NULL, 0, NULL), 0);
    cr_assert_eq (sl_curve_auth_check (auth, k_pub, SL_RIGHT_PUBLISH, "orders", NULL, 0, &why),
                  SL_EDENIED);
    cr_assert_not_null (strstr (why, "publish"));
    cr_assert_eq (sl_curve_auth_check (auth, k_pub, SL_RIGHT_READ, "logs", NULL, 0, &why),
                  SL_EDENIED, "a right not listed is not granted");
    cr_assert_eq (sl_curve_auth_check (auth, k_pub, SL_RIGHT_READ, NULL, NULL, 0, NULL), 0,
                  "membership only");
    cr_assert_eq (sl_curve_auth_check (auth, k_rd, SL_RIGHT_READ, "anything", NULL, 0, NULL), 0);
    cr_assert_eq (sl_curve_auth_check (auth, k_rd, SL_RIGHT_WORK, "in.a", NULL, 0, NULL), 0);
    cr_assert_eq (sl_curve_auth_check (auth, k_rd, SL_RIGHT_WORK, "out", NULL, 0, NULL),
                  SL_EDENIED);
    cr_assert_eq (sl_curve_auth_check (auth, k_rd, SL_RIGHT_PUBLISH, "x", NULL, 0, NULL),
                  SL_EDENIED);
    cr_assert_eq (sl_curve_auth_check (auth, NULL, SL_RIGHT_READ, "x", NULL, 0, NULL), SL_EDENIED);
    cr_assert_eq (sl_curve_auth_check (auth, "", SL_RIGHT_READ, "x", NULL, 0, NULL), SL_EDENIED);

    //  The live feed cannot filter per subscriber: restricted readers are refused there.
    server_t live;
    s_server_start (&live, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN_LIVE);
    cr_assert_eq (s_connect (&live, ZMQ_DEALER, full, NULL, 0), HS_OK);
    cr_assert_eq (s_connect (&live, ZMQ_DEALER, rd, NULL, 0), HS_OK);
    cr_assert_eq (s_connect (&live, ZMQ_DEALER, pub, NULL, 0), HS_AUTH);
    s_server_stop (&live);
    zcert_destroy (&full);
    zcert_destroy (&pub);
    zcert_destroy (&rd);
    sl_curve_auth_destroy (&auth);
}

Test (curve, hostile_allow_directory_entries_are_skipped)
{
    sl_curve_auth_t *auth = s_auth_new ();
    zcert_t *good = s_client_key ("good", NULL);
    s_write ("allow/garbage.key", "\xff\xfe not a cert\n", 0644);
    s_write ("allow/bad name.key", "x", 0644);
    s_write ("allow/notakey.txt", "x", 0644);
    s_write ("allow/x.key_secret", "x", 0600);
    //  Metadata far larger than zauth's 512-byte buffer: loaded safely.
    char *meta = calloc (1, 20000);
    strcpy (meta, "metadata\n");
    for (int i = 0; i < 300; i++) {
        sprintf (meta + strlen (meta), "    k%d = \"%040d\"\n", i, i);
    }
    zcert_t *big = zcert_new ();
    sprintf (meta + strlen (meta), "curve\n    public-key = \"%s\"\n", zcert_public_txt (big));
    s_write ("allow/big.key", meta, 0644);
    free (meta);
    //  The same key twice: the first file read names it, nothing breaks.
    char *dup = zsys_sprintf ("curve\n    public-key = \"%s\"\n", zcert_public_txt (good));
    s_write ("allow/good2.key", dup, 0644);
    zstr_free (&dup);
    cr_assert_eq (sl_curve_auth_reload (auth), 2);
    server_t srv;
    s_server_start (&srv, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, big, NULL, 0), HS_OK);
    cr_assert_eq (s_connect (&srv, ZMQ_DEALER, good, NULL, 0), HS_OK);
    s_server_stop (&srv);
    zcert_destroy (&good);
    zcert_destroy (&big);
    sl_curve_auth_destroy (&auth);
}

Test (curve, auth_errors)
{
    int err = 0;
    char *missing = s_path ("no-such-dir");
    cr_assert_null (sl_curve_auth_new (missing, &err));
    cr_assert_eq (err, SL_ENOTFOUND);
    //  One ZAP handler per process (per ZeroMQ context).
    sl_curve_auth_t *first = s_auth_new ();
    cr_assert_null (sl_curve_auth_new (NULL, &err));
    cr_assert_eq (err, SL_EINVAL);
    sl_curve_auth_destroy (&first);
    sl_curve_auth_destroy (&first);
    //  Once it is gone another may start.
    sl_curve_auth_t *any = sl_curve_auth_new (NULL, &err);
    cr_assert_not_null (any);
    cr_assert_eq (sl_curve_auth_check (any, "whatever", SL_RIGHT_PUBLISH, "x", NULL, 0, NULL), 0);
    sl_curve_auth_destroy (&any);
    //  A server needs a secret key.
    zcert_t *pub_only = zcert_new_from ((byte[32]){1}, (byte[32]){0});
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    cr_assert_eq (sl_curve_server (sock, pub_only, NULL), SL_EINVAL);
    cr_assert_eq (sl_curve_client (sock, pub_only, pub_only), SL_EINVAL);
    cr_assert_eq (sl_curve_auth_watch (NULL, sock), SL_EINVAL);
    zsock_destroy (&sock);
    zcert_destroy (&pub_only);
    zstr_free (&missing);
}

//  ---------------------------------------------------------------------
//  Cutting a watched socket's connections on revocation (sl_curve_conns)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_curve_int.h"

//  A loopback listener; *port gets its port.
static int
s_listener (uint16_t *port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq (listen (fd, 4), 0);
    socklen_t len = sizeof addr;
    getsockname (fd, (struct sockaddr *)&addr, &len);
    *port = ntohs (addr.sin_port);
    return fd;
}

static int
s_tcp_connect (uint16_t port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons (port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

Test (curve, conns_cut_shuts_down_tracked_connections_only)
{
    uint16_t port;
    int listener = s_listener (&port);
    int client = s_tcp_connect (port);
    int served = accept (listener, NULL, NULL);
    cr_assert_geq (served, 0);
    sl_curve_conns_t *conns = sl_curve_conns_new ();
    cr_assert_not_null (conns);
    cr_assert_eq (sl_curve_conns_add (conns, served), 0);
    cr_expect_eq (sl_curve_conns_add (conns, listener), SL_EINVAL, "not a connection");
    cr_expect_eq (sl_curve_conns_add (conns, -1), SL_EINVAL);
    cr_assert_eq (sl_curve_conns_size (conns), 1u);
    cr_assert_eq (sl_curve_conns_cut (conns), 1u);
    cr_expect_eq (sl_curve_conns_size (conns), 0u, "forgotten once cut");
    char byte;
    cr_expect_eq (recv (client, &byte, 1, 0), 0, "the peer sees the connection end");
    close (client);
    close (served);

    //  A closed descriptor whose number now holds another connection is
    //  not cut: the ends recorded at ACCEPTED no longer match.
    client = s_tcp_connect (port);
    served = accept (listener, NULL, NULL);
    cr_assert_eq (sl_curve_conns_add (conns, served), 0);
    close (served);
    close (client);
    int other = s_tcp_connect (port);
    int reused = accept (listener, NULL, NULL);
    cr_assert_eq (reused, served, "the kernel reuses the lowest free number");
    cr_expect_eq (sl_curve_conns_cut (conns), 0u);
    cr_assert_eq (send (reused, "x", 1, 0), 1);
    cr_expect_eq (recv (other, &byte, 1, 0), 1, "the new connection still works");
    //  Removed on CLOSED: nothing left to cut.
    cr_assert_eq (sl_curve_conns_add (conns, reused), 0);
    sl_curve_conns_remove (conns, reused);
    cr_expect_eq (sl_curve_conns_cut (conns), 0u);
    close (other);
    close (reused);
    close (listener);
    sl_curve_conns_destroy (&conns);
    sl_curve_conns_destroy (&conns);
}

//  replicate is never implied: a key file without rights metadata has every
//  client right but not this one; "*" grants it, anything else is refused
//  with a warning; and only such keys pass the replication socket's ZAP.
Test (curve, replicate_must_be_granted_in_so_many_words)
{
    sl_curve_auth_t *auth = s_auth_new ();
    int saved;
    char *log_path = s_capture_begin (&saved);
    zcert_t *full = s_client_key ("full", NULL);
    zcert_t *repl = s_client_key ("repl", "    replicate = \"*\"\n");
    zcert_t *odd = s_client_key ("odd", "    replicate = \"orders.*\"\n    read = \"*\"\n");
    cr_assert_eq (sl_curve_auth_reload (auth), 3);
    char *log = s_capture_end (saved, log_path);
    cr_assert_not_null (strstr (log, "replicate is \"*\" or absent"), "%s", log);
    free (log);
    const char *why = NULL;
    cr_assert_eq (
        sl_curve_auth_check (auth, zcert_public_txt (full), SL_RIGHT_REPLICATE, "*", NULL, 0, &why),
        SL_EDENIED, "every client right does not include replicate");
    cr_assert_not_null (strstr (why, "replicate"));
    cr_assert_eq (
        sl_curve_auth_check (auth, zcert_public_txt (full), SL_RIGHT_READ, "x", NULL, 0, NULL), 0);
    cr_assert_eq (
        sl_curve_auth_check (auth, zcert_public_txt (repl), SL_RIGHT_REPLICATE, "*", NULL, 0, NULL),
        0);
    cr_assert_eq (
        sl_curve_auth_check (auth, zcert_public_txt (repl), SL_RIGHT_READ, "x", NULL, 0, NULL),
        SL_EDENIED, "a replica's key holds only replicate");
    cr_assert_eq (
        sl_curve_auth_check (auth, zcert_public_txt (odd), SL_RIGHT_REPLICATE, "*", NULL, 0, NULL),
        SL_EDENIED);

    server_t server;
    s_server_start (&server, auth, ZMQ_ROUTER, SL_CURVE_DOMAIN_REPL);
    cr_assert_eq (s_connect (&server, ZMQ_DEALER, repl, NULL, 0), HS_OK);
    cr_assert_eq (s_connect (&server, ZMQ_DEALER, full, NULL, 0), HS_AUTH);
    cr_assert_eq (s_connect (&server, ZMQ_DEALER, odd, NULL, 0), HS_AUTH);
    s_server_stop (&server);
    zcert_destroy (&full);
    zcert_destroy (&repl);
    zcert_destroy (&odd);
    sl_curve_auth_destroy (&auth);
}
