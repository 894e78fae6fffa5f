import type { Strategy } from "./supervisor-options.js";

/**
 * The children that a restart caused by `cause` stops and starts again, in
 * start order (OTP `restart/3`): itself for one_for_one, every child for
 * one_for_all, itself and every child started after it for rest_for_one.
 */
export function restartGroup<T>(strategy: Strategy, children: readonly T[], cause: T): T[] {
  switch (strategy) {
    case "one_for_one":
      return [cause];
    case "one_for_all":
      return [...children];
    case "rest_for_one": {
      const i = children.indexOf(cause);
      return i < 0 ? [cause] : children.slice(i);
    }
  }
}
