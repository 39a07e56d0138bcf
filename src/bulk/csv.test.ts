import { csvLine, parseCsv } from './csv';

it('round-trips quotes, commas and newlines', () => {
  const rows = [['extension', 'name'], ['100', 'Doe, "Jo"\nsecond line'], ['101', '']];
  const text = rows.map(csvLine).join('');
  expect(parseCsv(text)).toEqual(rows);
});

it('defuses spreadsheet formulas', () => {
  expect(csvLine(['=HYPERLINK("x")', '+1', 'ok'])).toBe(`"'=HYPERLINK(""x"")","'+1",ok\r\n`);
});

it('reads LF and CRLF, skips blank lines, refuses an unterminated quote', () => {
  expect(parseCsv('a,b\n1,2\r\n\n3,4')).toEqual([['a', 'b'], ['1', '2'], ['3', '4']]);
  expect(() => parseCsv('a,"b')).toThrow(/unterminated/);
});

it('defuses a formula behind leading line breaks or spaces', () => {
  for (const v of ['\n=1+1', '\r\n+cmd', '\n\n-2', ' @SUM(A1)', '\u00a0=1', '\t=1', '\rplain']) {
    expect(csvLine([v])).toBe(`"'${v.replace(/"/g, '""')}"\r\n`);
  }
  expect(csvLine(['\nplain', 'a-b', 'x=1'])).toBe('"\nplain",a-b,x=1\r\n');
});
