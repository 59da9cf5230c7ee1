import MQEmitterRedis from 'mqemitter-redis';

/**
 * mqemitter-redis uses MQTT topics as Redis channel names as they are, and Redis pub/sub channels
 * are global to the server (not per database). With several appliances (or test suites) on one
 * Redis, their messages would mix: this emitter puts REDIS_PREFIX in front of every channel.
 */
export function createPrefixedRedisEmitter(url: string, prefix: string): MQEmitterRedis.MQEmitterRedis {
  const emitter = MQEmitterRedis({ connectionString: url }) as MQEmitterRedis.MQEmitterRedis & {
    _subTopic(topic: string): string;
    pubConn: { publish(channel: string, message: Buffer): Promise<unknown> };
  };
  const channelPrefix = `${prefix}:mqtt:`;
  const subTopic = emitter._subTopic.bind(emitter);
  emitter._subTopic = (topic: string) => channelPrefix + subTopic(topic);
  const publish = emitter.pubConn.publish.bind(emitter.pubConn);
  emitter.pubConn.publish = (channel: string, message: Buffer) => publish(channelPrefix + channel, message);
  return emitter;
}
