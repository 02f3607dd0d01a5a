// The part of `semver`'s API this plugin uses. (`npm install --save-dev @types/semver` gives the
// whole of it; this keeps the example's type check independent of an install.)
declare module "semver" {
  export function valid(version: string): string | null;
  export function sort(versions: string[]): string[];
  export function satisfies(version: string, range: string): boolean;
  export function maxSatisfying(versions: string[], range: string): string | null;
  export function inc(version: string, release: "major" | "minor" | "patch"): string | null;
  const semver: {
    valid: typeof valid;
    sort: typeof sort;
    satisfies: typeof satisfies;
    maxSatisfying: typeof maxSatisfying;
    inc: typeof inc;
  };
  export default semver;
}
