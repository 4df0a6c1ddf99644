import type { Room } from 'livekit-server-sdk'

/** When LiveKit created the room, in ms; `creationTime` is a bigint of seconds, `creationTimeMs` finer when set. */
export function createdAtMsOf (room: Pick<Room, 'creationTime' | 'creationTimeMs'>): number {
  return Number(room.creationTimeMs > 0n ? room.creationTimeMs : room.creationTime * 1000n)
}

/** When LiveKit created the room, as ISO 8601. */
export function createdAtOf (room: Pick<Room, 'creationTime' | 'creationTimeMs'>): string {
  return new Date(createdAtMsOf(room)).toISOString()
}
