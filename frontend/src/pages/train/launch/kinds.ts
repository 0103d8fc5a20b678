/** Which job kinds a user may launch, and a kind's title and description in the UI's language. */
import type { JobKind } from "../../../client/types";
import { localized } from "../../../lib/schemaForm";

/** The kinds a user may launch: every kind for an admin, those not `admin_only` for a learner. */
export function launchableKinds(kinds: readonly JobKind[], admin: boolean): JobKind[] {
  return admin ? [...kinds] : kinds.filter((k) => !k.admin_only);
}

/** A kind's title (`title_zh` in Chinese where there is one), else its name. */
export function kindTitle(kind: JobKind, language: string): string {
  return localized(kind.title, kind.title_zh, language) || kind.name;
}

/** A kind's description (`description_zh` in Chinese where there is one). */
export function kindDescription(kind: JobKind, language: string): string {
  return localized(kind.description, kind.description_zh, language);
}
