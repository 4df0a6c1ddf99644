import t from 'tap'
import { chunks } from '#ops/chunks.js'

t.test('consecutive slices of the size, the last one shorter, none for nothing', async (t) => {
  t.same(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
  t.same(chunks([1, 2, 3, 4], 2), [[1, 2], [3, 4]])
  t.same(chunks(['a'], 100), [['a']])
  t.same(chunks([], 100), [])
})
