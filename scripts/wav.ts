import { open } from 'node:fs/promises'

/** Bytes of a canonical WAV header: RIFF, a 16-byte `fmt ` chunk, the `data` chunk's header. */
export const WAV_HEADER_BYTES = 44

/** The header of a 16-bit PCM WAV file holding `dataBytes` bytes of samples. */
export function wavHeader (sampleRate: number, channels: number, dataBytes: number): Buffer {
  const header = Buffer.alloc(WAV_HEADER_BYTES)
  header.write('RIFF', 0, 'ascii')
  header.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4)
  header.write('WAVE', 8, 'ascii')
  header.write('fmt ', 12, 'ascii')
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20) // PCM
  header.writeUInt16LE(channels, 22)
  header.writeUInt32LE(sampleRate, 24)
  header.writeUInt32LE(sampleRate * channels * 2, 28)
  header.writeUInt16LE(channels * 2, 32)
  header.writeUInt16LE(16, 34)
  header.write('data', 36, 'ascii')
  header.writeUInt32LE(dataBytes, 40)
  return header
}

export interface WavWriter {
  /** Appends interleaved samples. */
  write: (samples: Int16Array) => Promise<void>
  /** Writes the final sizes into the header and closes the file; returns the seconds of audio written. */
  close: () => Promise<{ seconds: number }>
}

/**
 * A 16-bit PCM WAV file written as samples arrive. Its header says 0 bytes until `close` writes
 * the real sizes, so a file cut off by a crash is still a valid (empty) WAV.
 */
export async function openWav (path: string, sampleRate: number, channels: number): Promise<WavWriter> {
  const file = await open(path, 'w')
  await file.write(wavHeader(sampleRate, channels, 0), 0, WAV_HEADER_BYTES, 0)
  let dataBytes = 0
  let closed: Promise<{ seconds: number }> | undefined
  return {
    write: async (samples) => {
      const bytes = Buffer.alloc(samples.length * 2)
      // Little-endian whatever this machine's byte order.
      for (let i = 0; i < samples.length; i++) bytes.writeInt16LE(samples[i]!, i * 2)
      const at = WAV_HEADER_BYTES + dataBytes
      dataBytes += bytes.length
      await file.write(bytes, 0, bytes.length, at)
    },
    close: async () => {
      closed ??= (async () => {
        await file.write(wavHeader(sampleRate, channels, dataBytes), 0, WAV_HEADER_BYTES, 0)
        await file.close()
        return { seconds: dataBytes / (sampleRate * channels * 2) }
      })()
      return await closed
    }
  }
}
