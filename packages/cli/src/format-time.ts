const pad = (n: number) => String(n).padStart(2, '0')

/**
 * A date in this machine's local time with its UTC offset, e.g. `2025-03-01 14:05:09 UTC+01:00`.
 *
 * @example
 * localTime(new Date(0))
 */
export function localTime(date: Date): string {
  const offset = -date.getTimezoneOffset()
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
}

/**
 * How far a date is from now, e.g. `in 23 h 59 min` or `4 min ago`.
 *
 * @example
 * relativeTime(new Date(Date.now() + 90_000), Date.now()) // 'in 2 min'
 */
export function relativeTime(date: Date, now: number): string {
  const seconds = Math.round((date.getTime() - now) / 1000)
  const abs = Math.abs(seconds)
  const span =
    abs < 60
      ? `${abs} s`
      : abs < 2 * 3600
        ? `${Math.round(abs / 60)} min`
        : abs < 3 * 86_400
          ? `${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} min`
          : `${Math.floor(abs / 86_400)} days`
  return seconds === 0 ? 'now' : seconds > 0 ? `in ${span}` : `${span} ago`
}
