/*  mqtt_out.c - records to an MQTT broker, QoS 1, at least once (mqtt_out.h).

    libmosquitto runs without its thread; flush drives it (loop) until every
    message of the batch is PUBACKed. A message is "acked" by its mid; after
    a reconnect every message not acked yet is published again under a new
    mid, because the session (clean start) did not keep them.
*/
#include "mqtt_out.h"

#include <czmq.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_url.h"
#include "sl_util.h"

#define S_KEEPALIVE 30
#define S_RETRY_MS 1000
#define S_TOPIC_MAX 1024

typedef struct {
    char *topic;
    uint8_t *payload;
    size_t len;
    int mid; //  0: not published on this connection
    bool acked;
} s_msg_t;

struct _sl_mqtt_out_t {
    struct mosquitto *mosq;
    sl_url_t url;
    char *template;
    s_msg_t *msgs;
    size_t n, max;
    size_t acked;
    bool connected;
    uint32_t generation;   //  connections made: a new one publishes the unacked again
    uint32_t published_in; //  generation the batch was last published in (0: not yet)
    bool warned;
    int64_t retry_at;
};

static void
s_on_connect (struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    sl_mqtt_out_t *self = obj;
    if (rc != 0) {
        sl_warn ("mqtt", "%s:%d refused the connection: %s", self->url.host, self->url.port,
                 mosquitto_connack_string (rc));
        return;
    }
    self->connected = true;
    self->generation++;
    if (self->warned) {
        sl_info ("mqtt", "connected to %s:%d again", self->url.host, self->url.port);
        self->warned = false;
    }
}

static void
s_on_disconnect (struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    sl_mqtt_out_t *self = obj;
    self->connected = false;
    //  rc 0 is this client's own mosquitto_disconnect: nothing was lost.
    if (rc != 0 && !self->warned) {
        sl_warn ("mqtt",
                 "lost %s:%d (%s): reconnecting every second; unacknowledged messages "
                 "are published again",
                 self->url.host, self->url.port, mosquitto_strerror (rc));
        self->warned = true;
    }
}

static void
s_on_publish (struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    sl_mqtt_out_t *self = obj;
    for (size_t i = 0; i < self->n; i++) {
        if (self->msgs[i].mid == mid && !self->msgs[i].acked) {
            self->msgs[i].acked = true;
            self->acked++;
            break;
        }
    }
}

sl_mqtt_out_t *
sl_mqtt_out_new (const char *url, const char *topic_template, const char *client_id)
{
    sl_mqtt_out_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    if (sl_url_parse (url, "mqtt", 1883, &self->url) != 0) {
        sl_error ("mqtt", "--mqtt %s: expected mqtt://HOST[:PORT]/TOPIC", url);
        free (self);
        return NULL;
    }
    const char *t = topic_template ? topic_template : self->url.path;
    if (!*t || strpbrk (t, "+#") || strlen (t) >= S_TOPIC_MAX) {
        sl_error ("mqtt", "topic '%s': expected a topic without + or # (it may hold {key})", t);
        free (self);
        return NULL;
    }
    self->template = strdup (t);
    mosquitto_lib_init ();
    char id[128];
    if (client_id) {
        snprintf (id, sizeof id, "sluice-sink-%s", client_id);
    }
    self->mosq = self->template ? mosquitto_new (client_id ? id : NULL, true, self) : NULL;
    if (!self->mosq) {
        free (self->template);
        free (self);
        return NULL;
    }
    mosquitto_int_option (self->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set (self->mosq, s_on_connect);
    mosquitto_disconnect_callback_set (self->mosq, s_on_disconnect);
    mosquitto_publish_callback_set (self->mosq, s_on_publish);
    if (mosquitto_connect (self->mosq, self->url.host, self->url.port, S_KEEPALIVE) !=
        MOSQ_ERR_SUCCESS) {
        sl_warn ("mqtt", "cannot connect to %s:%d: retrying every second", self->url.host,
                 self->url.port);
        self->warned = true;
        self->retry_at = sl_mono_ms () + S_RETRY_MS;
    }
    return self;
}

static void
s_clear (sl_mqtt_out_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        free (self->msgs[i].topic);
        free (self->msgs[i].payload);
    }
    self->n = 0;
    self->acked = 0;
    self->published_in = 0; //  the next batch is published on the connection there is
}

void
sl_mqtt_out_destroy (sl_mqtt_out_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_mqtt_out_t *self = *self_p;
    s_clear (self);
    free (self->msgs);
    mosquitto_disconnect (self->mosq);
    mosquitto_destroy (self->mosq);
    mosquitto_lib_cleanup ();
    free (self->template);
    free (self);
    *self_p = NULL;
}

//  The template with {key} replaced; wildcards and NUL in the key become '_'
//  (a published topic may hold neither), a bin key is written as it is.
static char *
s_topic (sl_mqtt_out_t *self, const uint8_t *key, size_t key_len)
{
    const char *at = strstr (self->template, "{key}");
    size_t head = at ? (size_t)(at - self->template) : strlen (self->template);
    size_t tail = at ? strlen (at + 5) : 0;
    if (!at) {
        key_len = 0;
    }
    if (head + key_len + tail >= S_TOPIC_MAX) {
        return NULL;
    }
    char *topic = malloc (head + key_len + tail + 1);
    if (!topic) {
        return NULL;
    }
    memcpy (topic, self->template, head);
    for (size_t i = 0; i < key_len; i++) {
        char c = (char)key[i];
        topic[head + i] = c == '+' || c == '#' || c == 0 ? '_' : c;
    }
    if (at) {
        memcpy (topic + head + key_len, at + 5, tail);
    }
    topic[head + key_len + tail] = 0;
    return topic;
}

int
sl_mqtt_out_add (sl_mqtt_out_t *self, const uint8_t *key, size_t key_len, const uint8_t *payload,
                 size_t len)
{
    if (self->n == self->max) {
        size_t max = self->max ? self->max * 2 : 256;
        s_msg_t *msgs = realloc (self->msgs, max * sizeof *msgs);
        if (!msgs) {
            return SL_ENOMEM;
        }
        self->msgs = msgs;
        self->max = max;
    }
    s_msg_t *m = &self->msgs[self->n];
    memset (m, 0, sizeof *m);
    m->topic = s_topic (self, key, key ? key_len : 0);
    if (!m->topic || !m->topic[0]) {
        free (m->topic);
        return m->topic ? SL_EINVAL : SL_ENOMEM;
    }
    m->payload = malloc (len ? len : 1);
    if (!m->payload) {
        free (m->topic);
        return SL_ENOMEM;
    }
    memcpy (m->payload, payload, len);
    m->len = len;
    self->n++;
    return 0;
}

//  One turn of libmosquitto's loop, or a reconnect attempt when down.
static void
s_service (sl_mqtt_out_t *self, int timeout_ms)
{
    int64_t now = sl_mono_ms ();
    if (mosquitto_socket (self->mosq) < 0 || !self->connected) {
        if (mosquitto_socket (self->mosq) < 0) {
            if (now >= self->retry_at) {
                self->retry_at = now + S_RETRY_MS;
                mosquitto_reconnect (self->mosq);
            }
            else {
                zclock_sleep (timeout_ms < 50 ? timeout_ms : 50);
                return;
            }
        }
    }
    int rc = mosquitto_loop (self->mosq, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (self->connected) {
            s_on_disconnect (self->mosq, self, rc);
        }
        self->connected = false;
        if (rc != MOSQ_ERR_NO_CONN) {
            mosquitto_disconnect (self->mosq);
        }
        self->retry_at = now + S_RETRY_MS;
    }
}

int
sl_mqtt_out_flush (sl_mqtt_out_t *self, const volatile int *stop)
{
    while (self->acked < self->n) {
        if (zsys_interrupted || (stop && *stop)) {
            s_clear (self);
            return SL_EAGAIN;
        }
        if (self->connected && self->published_in != self->generation) {
            //  First time, or a new connection: publish everything not acked.
            self->published_in = self->generation;
            for (size_t i = 0; i < self->n; i++) {
                s_msg_t *m = &self->msgs[i];
                if (m->acked) {
                    continue;
                }
                if (mosquitto_publish (self->mosq, &m->mid, m->topic, (int)m->len, m->payload, 1,
                                       false) != MOSQ_ERR_SUCCESS) {
                    self->published_in = 0; //  try again on the next turn
                    break;
                }
            }
        }
        s_service (self, 100);
    }
    s_clear (self);
    return 0;
}
