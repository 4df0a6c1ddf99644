import { ensureLivekitServer } from './livekit-server.js'
import { ensureRedisServer } from './redis-server.js'

// What the tests start: livekit-server (built with go install into .cache/) and redis-server
// (Debian's package, installed with apt-get when this runs as root; elsewhere the Redis tests say
// so and skip, but never in CI, where a missing Redis fails the run).
console.log(ensureLivekitServer())
const redis = ensureRedisServer()
console.log(redis ?? 'redis-server: not installed')
if (redis === undefined && process.env.CI === 'true') process.exit(1)
