// Parses PowerShell scripts with tree-sitter-powershell (a real PowerShell grammar) and fails
// on any syntax error, naming line and column. .ci/run reads each template's PowerShell body
// with it, since pwsh is not installed here.
//
//   node check.mjs FILE...      (or - for stdin)
import { Parser, Language } from 'web-tree-sitter';
import fs from 'node:fs';

await Parser.init();
const grammar = new URL('./node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm', import.meta.url);
const parser = new Parser();
parser.setLanguage(await Language.load(fs.readFileSync(grammar)));
let failed = false;
for (const file of process.argv.slice(2)) {
  const source = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  const errors = [];
  (function walk(node) {
    if (node.isError || node.isMissing) errors.push(node);
    else for (const child of node.children) walk(child);
  })(parser.parse(source).rootNode);
  for (const n of errors) {
    const text = source.slice(n.startIndex, n.endIndex).split('\n')[0];
    console.error(`${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.isMissing ? `missing ${n.type}` : 'syntax error'} at ${JSON.stringify(text)}`);
  }
  failed ||= errors.length > 0;
}
process.exit(failed ? 1 : 0);
