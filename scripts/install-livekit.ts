import { ensureLivekitServer } from './livekit-server.js'

console.log(ensureLivekitServer())
