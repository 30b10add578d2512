import { describe, expect, it } from 'vitest';
import { move, newField, sameDocument } from './strategy';

describe('strategy editor helpers', () => {
  it('moves items and clamps at the ends', () => {
    expect(move(['a', 'b', 'c'], 0, 1)).toEqual(['b', 'a', 'c']);
    expect(move(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b']);
    const list = ['a', 'b'];
    expect(move(list, 0, -1)).toBe(list);
  });

  it('gives a new field an unused key', () => {
    const first = newField([]);
    expect(first.key).toBe('field_1');
    expect(newField([first, { ...first, key: 'field_2' }]).key).toBe('field_3');
  });

  it('compares documents by value', () => {
    expect(sameDocument(null, null)).toBe(true);
  });
});
