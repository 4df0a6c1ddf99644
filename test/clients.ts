import { dispose, Room, RoomEvent, type DisconnectReason } from '@livekit/rtc-node'
import tap, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'

let disposing = false

/** A real LiveKit client that joins a room with a token the service issued; it leaves when the test ends. */
export async function joinRoom (t: Test, url: string, token: string): Promise<{ room: Room, disconnected: Promise<DisconnectReason | undefined> }> {
  const room = new Room()
  const disconnected = new Promise<DisconnectReason | undefined>((resolve) => {
    room.once(RoomEvent.Disconnected, resolve)
  })
  await room.connect(url, token, { autoSubscribe: true, dynacast: false })
  t.teardown(async () => { await room.disconnect() })
  if (!disposing) {
    disposing = true
    // The native client keeps the process alive until it is disposed: once, when the whole file is done.
    tap.teardown(async () => { await dispose() })
  }
  return { room, disconnected }
}

/** Polls `check` until it returns a value other than undefined: at most `tries` times, `intervalMs` apart. */
export async function waitFor<T> (check: () => Promise<T | undefined> | T | undefined, { tries = 100, intervalMs = 100 } = {}): Promise<T> {
  for (let attempt = 0; attempt < tries; attempt++) {
    const value = await check()
    if (value !== undefined) return value
    await sleep(intervalMs)
  }
  throw new Error(`condition not met after ${tries} tries`)
}

/** Resolves with the promise's value, or undefined after `ms`. */
export async function within<T> (promise: Promise<T>, ms: number): Promise<T | undefined> {
  return await Promise.race([promise, sleep(ms).then(() => undefined)])
}
