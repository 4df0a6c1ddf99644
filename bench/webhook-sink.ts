import { createServer } from 'node:http'

/**
 * An HTTP server on loopback `port` that answers every request (LiveKit's webhooks) with 200 and
 * `body`, for benches that run LiveKit without a service to receive them. An empty body lets
 * LiveKit's client keep its connection; a JSON one, as the service answers, makes it dial again
 * (livekit/protocol closes the answer unread).
 */
export function webhookSink (port: number, body = '') {
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      if (body !== '') response.setHeader('content-type', 'application/json')
      response.end(body)
    })
  })
  return {
    async open (): Promise<void> {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
      })
    },
    async close (): Promise<void> {
      if (!server.listening) return
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
}
