import { backoffMs } from './webhooks';
import { DEFAULT_WEBHOOK_SETTINGS } from './webhooks-config';

it('backs off exponentially from the initial wait to the longest, with the second half of each wait random', () => {
  const retry = DEFAULT_WEBHOOK_SETTINGS.retry;
  const shortest = [1, 2, 3, 4, 10, 11, 12, 50].map((n) => backoffMs(n, retry, 0));
  expect(shortest).toEqual([2500, 5000, 10000, 20000, 1280000, 1800000, 1800000, 1800000]);
  expect([1, 3, 12].map((n) => backoffMs(n, retry, 0.5))).toEqual([3750, 15000, 2700000]);
  expect(backoffMs(12, retry, 0.999999)).toBeLessThanOrEqual(3600000);
  // Within 24 h the default schedule makes more attempts than max_consecutive_failures (20) allows in a row.
  let elapsed = 0;
  let attempts = 0;
  while (elapsed <= retry.giveUpAfterMs) elapsed += backoffMs(++attempts, retry, 0.999999);
  expect(attempts).toBeGreaterThan(DEFAULT_WEBHOOK_SETTINGS.maxConsecutiveFailures);
});
