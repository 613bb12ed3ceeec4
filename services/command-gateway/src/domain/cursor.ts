// Opaque list cursors: the last command id of a page, base64url so clients do not parse it.
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Encodes the last id of a page. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

/** Decodes a cursor; null when it is not one of ours. */
export function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return ID.test(id) ? id : null;
}
