import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** Connects a real MQTT client; rejects with the broker's refusal (CONNACK code) or a timeout. */
export function connectDevice(url: string, deviceId: string, options: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId: deviceId, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Resolves with the next message on `topic` (parsed as JSON), or rejects after `timeoutMs`. */
export function nextMessage<T = any>(client: MqttClient, topic: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    function onMessage(received: string, payload: Buffer) {
      if (received !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(JSON.parse(payload.toString()));
    }
    client.on('message', onMessage);
  });
}

/** Subscribes and answers the granted QoS: 0 or 1, or 128 when the broker refused the subscription. */
export function subscribe(client: MqttClient, topic: string, qos: 0 | 1 = 1): Promise<number> {
  return new Promise((resolve, reject) =>
    client.subscribe(topic, { qos }, (error, granted) => {
      // mqtt.js reports a SUBACK failure code as an error carrying the packet.
      const refused = (error as { packet?: { granted?: number[] } } | undefined)?.packet?.granted?.[0];
      if (refused !== undefined) return resolve(refused);
      if (error) return reject(error);
      resolve(granted?.[0]?.qos ?? -1);
    }),
  );
}

export function publish(client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, { qos }, (error) => (error ? reject(error) : resolve())));
}

/** Resolves when the broker closes the client's connection. */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('the broker did not close the connection')), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function endAll(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((client) => (client ? new Promise<void>((resolve) => client.end(true, {}, () => resolve())) : undefined)));
}
