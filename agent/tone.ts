/**
 * The reference agent's only "voice": a short sine beep followed by silence, cut into
 * fixed-size 16-bit PCM frames ready for an `AudioSource`. Pure: no LiveKit, no timers.
 */

export interface BeepCycleOptions {
  /** Samples per second (default 48000, WebRTC's native rate). */
  sampleRate?: number
  /** Length of one frame in milliseconds (default 20); beep and period are rounded up to whole frames. */
  frameMs?: number
  /** Beep pitch in hertz (default 440). */
  frequency?: number
  /** Length of the beep in milliseconds (default 300). */
  beepMs?: number
  /** Length of one beep plus the silence after it, in milliseconds (default 3000). */
  periodMs?: number
  /** Peak of the beep, 0..1 of full scale (default 0.3). */
  amplitude?: number
  /** Fade in and out of the beep in milliseconds, so it starts and stops without a click (default 5). */
  fadeMs?: number
}

export interface BeepCycle {
  sampleRate: number
  /** Samples per frame (mono). */
  samplesPerFrame: number
  /** One period: the beep's frames, then silent frames. Frames are shared: never write to them. */
  frames: readonly Int16Array[]
  /** How many of `frames`, from the start, carry the beep. */
  beepFrames: number
}

function check (name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number from ${min} to ${max}, got ${value}`)
  }
  return value
}

/** `durationMs` of a sine at `frequency`, mono 16-bit, with a linear fade in and out. */
export function sine (sampleRate: number, frequency: number, durationMs: number, amplitude = 0.3, fadeMs = 5): Int16Array {
  check('sampleRate', sampleRate, 8000, 192000)
  check('frequency', frequency, 1, sampleRate / 2)
  check('durationMs', durationMs, 0, 60_000)
  check('amplitude', amplitude, 0, 1)
  check('fadeMs', fadeMs, 0, durationMs / 2)
  const length = Math.round(sampleRate * durationMs / 1000)
  const fade = Math.round(sampleRate * fadeMs / 1000)
  const peak = amplitude * 32767
  const samples = new Int16Array(length)
  for (let i = 0; i < length; i++) {
    const envelope = fade === 0 ? 1 : Math.min(1, i / fade, (length - 1 - i) / fade)
    samples[i] = Math.round(peak * envelope * Math.sin(2 * Math.PI * frequency * i / sampleRate))
  }
  return samples
}

/** One period of the beep pattern, as frames. */
export function beepCycle (options: BeepCycleOptions = {}): BeepCycle {
  const sampleRate = options.sampleRate ?? 48000
  const frameMs = check('frameMs', options.frameMs ?? 20, 1, 1000)
  const beepMs = check('beepMs', options.beepMs ?? 300, 1, 60_000)
  const periodMs = check('periodMs', options.periodMs ?? 3000, beepMs, 600_000)
  const samplesPerFrame = Math.round(sampleRate * frameMs / 1000)
  if (samplesPerFrame < 1) throw new RangeError(`frameMs ${frameMs} holds no sample at ${sampleRate} Hz`)

  const beep = sine(sampleRate, options.frequency ?? 440, beepMs, options.amplitude ?? 0.3, options.fadeMs ?? Math.min(5, beepMs / 2))
  const beepFrames = Math.ceil(beep.length / samplesPerFrame)
  const totalFrames = Math.max(beepFrames, Math.ceil(sampleRate * periodMs / 1000 / samplesPerFrame))
  const frames: Int16Array[] = []
  for (let i = 0; i < beepFrames; i++) {
    const frame = new Int16Array(samplesPerFrame)
    frame.set(beep.subarray(i * samplesPerFrame, (i + 1) * samplesPerFrame))
    frames.push(frame)
  }
  const silent = new Int16Array(samplesPerFrame)
  while (frames.length < totalFrames) frames.push(silent)
  return { sampleRate, samplesPerFrame, frames, beepFrames }
}

/** The cycle's frames, over and over, for as long as the caller keeps pulling. */
export function * repeatCycle (cycle: BeepCycle): Generator<Int16Array, never> {
  while (true) yield * cycle.frames
}

/** Largest absolute sample value of a frame (0..32768). */
export function peakOf (samples: Int16Array): number {
  let peak = 0
  for (const sample of samples) peak = Math.max(peak, Math.abs(sample))
  return peak
}
