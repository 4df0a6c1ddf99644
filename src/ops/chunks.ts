/** `items` in consecutive slices of `size` (the last one shorter): `chunks([1, 2, 3], 2)` is `[[1, 2], [3]]`. */
export function chunks<T> (items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))
}
