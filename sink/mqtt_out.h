/*  mqtt_out.h - sluice-sink --mqtt mqtt://HOST:PORT/TOPIC: each record
    published with QoS 1 (libmosquitto), on a topic that may take the
    record's key (--mqtt-topic 'devices/{key}').

    Records are added to a batch (sl_mqtt_out_add); sl_mqtt_out_flush
    publishes what is not acknowledged yet and returns only when the MQTT
    broker PUBACKed every message of the batch (connecting again as long as
    it takes). The sink commits its position after that, so every record
    reaches the MQTT broker at least once; a message whose PUBACK was lost
    in a reconnect is published again (a duplicate) (docs/sink.md, "MQTT").
*/
#ifndef SL_MQTT_OUT_H_INCLUDED
#define SL_MQTT_OUT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _sl_mqtt_out_t sl_mqtt_out_t;

//  url: mqtt://HOST[:PORT]/TOPIC; topic_template (NULL: the URL's topic)
//  may hold {key}. client_id NULL for a random one. NULL on a bad URL or
//  template (logged) or OOM.
sl_mqtt_out_t *sl_mqtt_out_new (const char *url, const char *topic_template, const char *client_id);
void sl_mqtt_out_destroy (sl_mqtt_out_t **self_p);

//  Adds one message to the batch: the topic made from key (NULL: none, an
//  empty {key}), payload copied. 0, SL_ENOMEM or SL_EINVAL (the topic would
//  hold a wildcard or be empty).
int sl_mqtt_out_add (sl_mqtt_out_t *self, const uint8_t *key, size_t key_len,
                     const uint8_t *payload, size_t len);

//  Publishes the batch and waits for every PUBACK, then empties it. 0, or
//  SL_EAGAIN when *stop (or SIGINT/SIGTERM) ended the wait first: the batch
//  is then dropped unacknowledged (not committed, sent again at restart).
int sl_mqtt_out_flush (sl_mqtt_out_t *self, const volatile int *stop);

#endif
