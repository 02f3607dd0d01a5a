/** What the plugin returns. */
export interface Release {
  /** Valid versions, oldest first. */
  sorted: string[];
  /** Those inside the range. */
  matching: string[];
  /** The newest version inside the range, or `null`. */
  best: string | null;
  /** The next minor release after `best`. */
  next: string | null;
  /** Entries that are not versions. */
  invalid: string[];
}

/** The result, with `best` repeated as a sentence a person can read. */
export function summarize(release: Release): Release & { text: string } {
  const text = release.best === null
    ? "no release matches"
    : `use ${release.best} (next minor: ${release.next})`;
  return { ...release, text };
}
