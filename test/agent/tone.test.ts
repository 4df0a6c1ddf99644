import t from 'tap'
import { beepCycle, peakOf, repeatCycle, sine } from '../../agent/tone.js'

/** Frequency estimated from upward zero crossings. */
function frequencyOf (samples: Int16Array, sampleRate: number): number {
  let crossings = 0
  for (let i = 1; i < samples.length; i++) {
    if (samples[i - 1]! < 0 && samples[i]! >= 0) crossings++
  }
  return crossings * sampleRate / samples.length
}

t.test('sine: length, pitch and peak as asked', async (t) => {
  const samples = sine(48000, 440, 300, 0.5)
  t.equal(samples.length, 14400, '300 ms at 48 kHz')
  t.ok(Math.abs(frequencyOf(samples, 48000) - 440) <= 5, `about 440 Hz (got ${frequencyOf(samples, 48000)})`)
  const peak = peakOf(samples)
  t.ok(peak <= 0.5 * 32767 + 1 && peak > 0.49 * 32767, `peak ${peak} is half of full scale`)
})

t.test('sine: fades in and out, so it starts and ends at silence', async (t) => {
  const samples = sine(48000, 440, 300, 1, 5)
  t.equal(samples[0], 0)
  t.ok(Math.abs(samples[samples.length - 1]!) < 50, 'last sample near zero')
  t.ok(peakOf(samples.subarray(0, 48)) < 0.25 * 32767, 'first millisecond is quiet')
  t.ok(peakOf(samples.subarray(4800, 9600)) > 0.99 * 32767, 'middle is at full amplitude')
})

t.test('sine: never leaves the 16-bit range', async (t) => {
  const samples = sine(8000, 3999, 100, 1, 0)
  t.ok(samples.every((sample) => sample >= -32768 && sample <= 32767))
})

t.test('sine: rejects nonsense', async (t) => {
  t.throws(() => sine(48000, 30000, 100), RangeError, 'above Nyquist')
  t.throws(() => sine(48000, 440, 100, 1.5), RangeError, 'amplitude above 1')
  t.throws(() => sine(48000, 440, Number.NaN), RangeError, 'NaN duration')
  t.throws(() => sine(48000, 440, 10, 0.3, 6), RangeError, 'fades longer than the tone')
})

t.test('beepCycle: a 300 ms beep, then silence, to 3 s, in 20 ms frames', async (t) => {
  const cycle = beepCycle()
  t.equal(cycle.sampleRate, 48000)
  t.equal(cycle.samplesPerFrame, 960)
  t.equal(cycle.frames.length, 150, '3 s of 20 ms frames')
  t.equal(cycle.beepFrames, 15, '300 ms of beep')
  t.ok(cycle.frames.every((frame) => frame.length === 960), 'every frame is whole')
  t.ok(cycle.frames.slice(1, cycle.beepFrames - 1).every((frame) => peakOf(frame) > 0.29 * 32767), 'beep frames are loud')
  t.ok(cycle.frames.slice(cycle.beepFrames).every((frame) => peakOf(frame) === 0), 'the rest is silence')
  const beep = new Int16Array(cycle.beepFrames * 960)
  cycle.frames.slice(0, cycle.beepFrames).forEach((frame, i) => beep.set(frame, i * 960))
  t.ok(Math.abs(frequencyOf(beep, 48000) - 440) <= 5, 'the beep is 440 Hz')
})

t.test('beepCycle: a beep that does not fill its last frame is padded with silence', async (t) => {
  const cycle = beepCycle({ sampleRate: 16000, frameMs: 10, beepMs: 25, periodMs: 100 })
  t.equal(cycle.samplesPerFrame, 160)
  t.equal(cycle.beepFrames, 3)
  t.equal(cycle.frames.length, 10)
  t.same([...cycle.frames[2]!.subarray(80)], new Array(80).fill(0), 'the last 5 ms of the third frame are silent')
})

t.test('beepCycle: a period shorter than its beep is refused', async (t) => {
  t.throws(() => beepCycle({ beepMs: 300, periodMs: 200 }), RangeError)
  t.throws(() => beepCycle({ frameMs: 0 }), RangeError)
})

t.test('repeatCycle: plays the period over and over', async (t) => {
  const cycle = beepCycle({ periodMs: 400, beepMs: 100 })
  const frames = repeatCycle(cycle)
  const played = Array.from({ length: cycle.frames.length * 2 + 1 }, () => frames.next().value)
  t.equal(played[0], cycle.frames[0])
  t.equal(played[cycle.frames.length], cycle.frames[0], 'the second period starts with the beep again')
  t.equal(played[cycle.frames.length * 2], cycle.frames[0])
  t.equal(played[cycle.frames.length - 1], cycle.frames[cycle.frames.length - 1])
})
