/*  mqtt_in.c - MQTT messages as sluice-source's input (mqtt_in.h).

    One message is held at a time: on_message copies it, and the socket is
    not read again until the caller took it. Reconnects (MQTT broker gone or
    restarted) are tried once a second; the subscription is made again on
    every CONNACK, and with a client id the broker kept the session and
    the QoS 1 messages queued for it meanwhile.
*/
#include "mqtt_in.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
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

struct _sl_mqtt_in_t {
    struct mosquitto *mosq;
    sl_url_t url;
    bool connected;
    bool warned;
    int64_t retry_at;
    struct mosquitto_message held; //  the message handed out last (owned)
    bool have;                     //  a message waits in `held`
    bool handed;                   //  `held` was handed out: free it at the next call
};

static void
s_on_connect (struct mosquitto *mosq, void *obj, int rc)
{
    sl_mqtt_in_t *self = obj;
    if (rc != 0) {
        sl_warn ("mqtt", "%s:%d refused the connection: %s", self->url.host, self->url.port,
                 mosquitto_connack_string (rc));
        return;
    }
    self->connected = true;
    if (self->warned) {
        sl_info ("mqtt", "connected to %s:%d again", self->url.host, self->url.port);
        self->warned = false;
    }
    if (mosquitto_subscribe (mosq, NULL, self->url.path, 1) != MOSQ_ERR_SUCCESS) {
        sl_error ("mqtt", "cannot subscribe to %s", self->url.path);
    }
}

static void
s_on_disconnect (struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    sl_mqtt_in_t *self = obj;
    self->connected = false;
    //  rc 0 is this client's own mosquitto_disconnect (at the end, or after a
    //  loss already said): nothing was lost.
    if (rc != 0 && !self->warned) {
        sl_warn ("mqtt", "lost %s:%d (%s): reconnecting every second", self->url.host,
                 self->url.port, mosquitto_strerror (rc));
        self->warned = true;
    }
}

static void
s_on_message (struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    sl_mqtt_in_t *self = obj;
    if (self->have) {
        //  Cannot happen: the socket is read one packet at a time, only when empty.
        sl_error ("mqtt", "a message arrived while one was held; dropped");
        return;
    }
    if (mosquitto_message_copy (&self->held, msg) != MOSQ_ERR_SUCCESS) {
        sl_error ("mqtt", "out of memory for a message on %s", msg->topic);
        return;
    }
    self->have = true;
}

sl_mqtt_in_t *
sl_mqtt_in_new (const char *url, const char *client_id, size_t max_message)
{
    sl_mqtt_in_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    if (sl_url_parse (url, "mqtt", 1883, &self->url) != 0 || !self->url.path[0]) {
        sl_error ("mqtt", "--mqtt %s: expected mqtt://HOST[:PORT]/TOPIC-FILTER", url);
        free (self);
        return NULL;
    }
    mosquitto_lib_init ();
    char id[128];
    if (client_id) {
        snprintf (id, sizeof id, "sluice-%s", client_id);
    }
    self->mosq = mosquitto_new (client_id ? id : NULL, client_id == NULL, self);
    if (!self->mosq) {
        free (self);
        return NULL;
    }
    mosquitto_int_option (self->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set (self->mosq, s_on_connect);
    mosquitto_disconnect_callback_set (self->mosq, s_on_disconnect);
    mosquitto_message_callback_set (self->mosq, s_on_message);
    mosquitto_property *props = NULL;
    uint32_t limit = max_message + 1024 > UINT32_MAX ? UINT32_MAX : (uint32_t)(max_message + 1024);
    mosquitto_property_add_int32 (&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, limit);
    if (client_id) {
        //  Keep the session (and its queued QoS 1 messages) for a day across our absences.
        mosquitto_property_add_int32 (&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 86400);
    }
    int rc = mosquitto_connect_bind_v5 (self->mosq, self->url.host, self->url.port, S_KEEPALIVE,
                                        NULL, props);
    mosquitto_property_free_all (&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        sl_warn ("mqtt", "cannot connect to %s:%d (%s): retrying every second", self->url.host,
                 self->url.port, mosquitto_strerror (rc));
        self->warned = true;
        self->retry_at = sl_mono_ms () + S_RETRY_MS;
    }
    return self;
}

void
sl_mqtt_in_destroy (sl_mqtt_in_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_mqtt_in_t *self = *self_p;
    if (self->have || self->handed) {
        mosquitto_message_free_contents (&self->held);
    }
    mosquitto_disconnect (self->mosq);
    mosquitto_destroy (self->mosq);
    mosquitto_lib_cleanup ();
    free (self);
    *self_p = NULL;
}

int
sl_mqtt_in_fd (sl_mqtt_in_t *self)
{
    return mosquitto_socket (self->mosq);
}

//  Lets libmosquitto read one packet (when the socket has one), write what
//  it queued, and keep the connection alive or make it again.
static void
s_service (sl_mqtt_in_t *self)
{
    int fd = mosquitto_socket (self->mosq);
    int64_t now = sl_mono_ms ();
    if (fd < 0) {
        if (now >= self->retry_at) {
            self->retry_at = now + S_RETRY_MS;
            if (mosquitto_reconnect (self->mosq) != MOSQ_ERR_SUCCESS && !self->warned) {
                sl_warn ("mqtt", "cannot connect to %s:%d: retrying every second", self->url.host,
                         self->url.port);
                self->warned = true;
            }
        }
        return;
    }
    struct pollfd item = {fd, POLLIN, 0};
    int rc = MOSQ_ERR_SUCCESS;
    if (poll (&item, 1, 0) > 0 && (item.revents & (POLLIN | POLLHUP | POLLERR))) {
        rc = mosquitto_loop_read (self->mosq, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write (self->mosq)) {
        rc = mosquitto_loop_write (self->mosq, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_loop_misc (self->mosq);
    }
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
        s_on_disconnect (self->mosq, self, rc);
        mosquitto_disconnect (self->mosq);
        self->retry_at = now + S_RETRY_MS;
    }
}

int
sl_mqtt_in_next (sl_mqtt_in_t *self, const char **topic, const uint8_t **payload, size_t *len)
{
    if (self->handed) {
        mosquitto_message_free_contents (&self->held);
        memset (&self->held, 0, sizeof self->held);
        self->handed = false;
    }
    for (int i = 0; i < 64 && !self->have; i++) {
        s_service (self);
        int fd = mosquitto_socket (self->mosq);
        struct pollfd item = {fd, POLLIN, 0};
        if (self->have || fd < 0 || poll (&item, 1, 0) <= 0) {
            break;
        }
    }
    if (!self->have) {
        return SL_EAGAIN;
    }
    self->have = false;
    self->handed = true;
    *topic = self->held.topic;
    *payload = self->held.payload;
    *len = self->held.payloadlen > 0 ? (size_t)self->held.payloadlen : 0;
    return 1;
}
