// Parses PowerShell scripts with tree-sitter-powershell (a real PowerShell grammar) and fails
// on any syntax error, naming line and column. .ci/run reads each template's PowerShell body
// with it, since pwsh is not installed here. With --step-body it also checks, on the syntax
// tree, what the step's body must do to start clean (see step-template/source/body.ps1):
// tracing off before anything else, no exit-code errors from native commands, inherited Azure
// credentials removed before any $env: is set, the OIDC token assigned straight to $env:, and
// start failures reported by their inner exception.
//
//   node check.mjs [--step-body] FILE...      (or - for stdin)
import { Parser, Language } from 'web-tree-sitter';
import fs from 'node:fs';

await Parser.init();
const grammar = new URL('./node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm', import.meta.url);
const parser = new Parser();
parser.setLanguage(await Language.load(fs.readFileSync(grammar)));
const args = process.argv.slice(2);
const stepBody = args.includes('--step-body');
let failed = false;

function nodes(node, type, found = []) {
  if (node.type === type) found.push(node);
  for (const child of node.children) nodes(child, type, found);
  return found;
}
const name = (command) => command.children.find((c) => c.type === 'command_name')?.text.toLowerCase();
const flat = (text) => text.replace(/\s+/g, ' ').trim();

// What the body must hold, each a [description, test of the tree] pair.
function bodyRules(root) {
  const statements = root.children.find((c) => c.type === 'statement_list')?.children ?? [];
  const commands = nodes(root, 'command');
  const assignments = nodes(root, 'assignment_expression').map((a) => ({
    node: a,
    left: a.child(0).text,
    right: flat(a.child(2)?.text ?? ''),
  }));
  const firstEnv = assignments.find((a) => /^\$env:/i.test(a.left));
  // The top-level statement (a loop over Env:, say) a node is part of.
  const enclosing = (n) => statements.find((s) => s.startIndex <= n.startIndex && n.endIndex <= s.endIndex) ?? n;
  const removals = commands.filter((c) => name(c) === 'remove-item' && /Env:/.test(c.text));
  return [
    ['the first statement is Set-PSDebug -Off',
      statements[0] && nodes(statements[0], 'command').some((c) => name(c) === 'set-psdebug' &&
        nodes(c, 'command_parameter').some((p) => p.text.toLowerCase() === '-off'))],
    ['$PSNativeCommandUseErrorActionPreference = $false',
      assignments.some((a) => a.left === '$PSNativeCommandUseErrorActionPreference' && a.right === '$false')],
    ['inherited AZURE_ (and managed identity) variables are removed before any $env: is set',
      removals.some((r) => ['AZURE', 'IDENTITY', 'MSI'].every((p) => enclosing(r).text.includes(p)))
        && firstEnv && removals.every((r) => r.startIndex < firstEnv.node.startIndex)],
    ['the OIDC token goes straight to $env:AZURE_FEDERATED_TOKEN',
      assignments.some((a) => a.left === '$env:AZURE_FEDERATED_TOKEN' && /^ov ".*\.OpenIdConnect\.Jwt"$/.test(a.right))],
    ['no script variable holds the token ($jwt)',
      !nodes(root, 'variable').some((v) => /^\$jwt$/i.test(v.text))],
    ['a start failure is reported by its InnerException.Message',
      nodes(root, 'member_access').some((m) => /\.InnerException\.Message$/.test(m.text))],
  ];
}

for (const file of args.filter((a) => a !== '--step-body')) {
  const source = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  const root = parser.parse(source).rootNode;
  const errors = [];
  (function walk(node) {
    if (node.isError || node.isMissing) errors.push(node);
    else for (const child of node.children) walk(child);
  })(root);
  for (const n of errors) {
    const text = source.slice(n.startIndex, n.endIndex).split('\n')[0];
    console.error(`${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.isMissing ? `missing ${n.type}` : 'syntax error'} at ${JSON.stringify(text)}`);
  }
  failed ||= errors.length > 0;
  if (stepBody && errors.length === 0) {
    for (const [rule, ok] of bodyRules(root)) {
      if (!ok) console.error(`${file}: the step body breaks a rule: ${rule}`);
      failed ||= !ok;
    }
  }
}
process.exit(failed ? 1 : 0);
