/*  mqtt_in.h - sluice-source --mqtt mqtt://HOST:PORT/TOPIC-FILTER: MQTT
    messages (QoS 1 subscription, libmosquitto) as the source's input.

    It never blocks: libmosquitto runs without its thread, on the socket the
    source polls (sl_mqtt_in_fd), and the socket is read only when the
    source asks for the next message, so a full window stops the reading
    and the MQTT broker holds what is not read yet (TCP back-pressure, then
    the broker's own queue for the session). MQTT v5 with a Maximum Packet
    Size, so that the broker never sends a message larger than max_message.

    What is acknowledged when (docs/source.md, "MQTT"): libmosquitto 2.0
    sends the PUBACK of a QoS 1 message as it hands the message over, before
    the Sluice broker confirmed it.
*/
#ifndef SL_MQTT_IN_H_INCLUDED
#define SL_MQTT_IN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _sl_mqtt_in_t sl_mqtt_in_t;

//  url: mqtt://HOST[:PORT]/TOPIC-FILTER (default port 1883). client_id:
//  the MQTT client id and a persistent session (clean start off), or NULL
//  for a random id and a clean session. NULL on a bad URL (logged) or OOM.
sl_mqtt_in_t *sl_mqtt_in_new (const char *url, const char *client_id, size_t max_message);
void sl_mqtt_in_destroy (sl_mqtt_in_t **self_p);

//  The next message: 1 with its topic and payload (valid until the next
//  call), SL_EAGAIN when none is there now (poll sl_mqtt_in_fd).
int sl_mqtt_in_next (sl_mqtt_in_t *self, const char **topic, const uint8_t **payload, size_t *len);

//  The socket to poll; -1 while not connected (the caller polls again soon).
int sl_mqtt_in_fd (sl_mqtt_in_t *self);

#endif
