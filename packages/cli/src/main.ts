import { TrellisError } from '@trellis/utils'
import { Command, Option } from 'commander'
import {
  blockCommand,
  historyCommand,
  keygenCommand,
  notariseCommand,
  queryCommand,
  sendCommand,
  stateCommand,
  statusCommand,
  txCommand,
} from './commands/client.js'
import {
  DEFAULT_NETWORK_DIR,
  networkAddNodeCommand,
  networkDownCommand,
  networkStatusCommand,
  networkUpCommand,
} from './commands/network.js'
import { devCommand, initCommand, startCommand } from './commands/node.js'
import {
  callCommand,
  contractBuildCommand,
  contractDeployCommand,
  contractInfoCommand,
  contractListCommand,
  contractStatusCommand,
  contractUpgradeCommand,
  eventsCommand,
} from './commands/contract.js'
import {
  caCreateCommand,
  certExpiringCommand,
  certIssueCommand,
  certRevokeCommand,
  certShowCommand,
  contractApproveCommand,
  orgInviteCommand,
  orgListCommand,
  orgRemoveCommand,
  orgShowCommand,
  orgUpdateCommand,
  permissionSetCommand,
  permissionShowCommand,
  proposalCancelCommand,
  proposalCreateCommand,
  proposalListCommand,
  proposalShowCommand,
  proposalVoteCommand,
} from './commands/governance.js'
import { verifyCommand } from './commands/verify.js'
import { style } from './io.js'

const DEFAULT_DATA = process.env.TRELLIS_DATA ?? '.trellis/dev'
const DEFAULT_NODE = process.env.TRELLIS_NODE ?? 'http://127.0.0.1:7700'

function collect(v: string, prev: string[]): string[] {
  return [...prev, v]
}

/** Builds the `trellis` command tree. */
export function createProgram(): Command {
  const program = new Command('trellis')
    .description('Trellis consortium blockchain: run nodes, send transactions, verify proofs')
    .version('0.1.0')
  program.showHelpAfterError('(run with --help for usage)')

  const nodeOpts = (c: Command) =>
    c
      .option('--data <dir>', 'data directory', DEFAULT_DATA)
      .option('--host <host>', 'API listen address', '127.0.0.1')
      .option('--port <port>', 'API port (0 = any free port)', '7700')
      .option('--block-interval <ms>', 'longest wait before a non-full block is cut', '100')
      .option('--block-txs <n>', 'cut a block as soon as this many txs wait (at most the chain maxBlockTxs)', '2000')
      .option('--no-sync', 'do not fsync each block (throwaway chains only)')
      .option('--workers <n>', 'signature-verification worker threads')
      .option('--background-nice <n>', "nice value of the node's other threads, so its main thread wins the CPU (Linux; 0 = off)", '10')
      .option('--log-file <file>', 'write the JSON log to a file instead of stdout')

  nodeOpts(program.command('dev').description('create (first run) and start a local single-validator chain'))
    .addOption(new Option('--chain-id <id>', 'chain id for a new chain').default('trellis-dev'))
    .action(devCommand)
  program
    .command('init')
    .description('create a single-validator chain: genesis and encrypted validator key')
    .option('--data <dir>', 'data directory', DEFAULT_DATA)
    .requiredOption('--chain-id <id>', 'chain id')
    .action(initCommand)
  nodeOpts(program.command('start').description('start a node from a data directory'))
    .option('--network <file>', "network.json of a multi-validator chain: this node's p2p port and peers")
    .action(startCommand)

  const network = program.command('network').description('a local network of several organisations, one validator each')
  network
    .command('up')
    .description('create (first run) and start every node of a local network, each as its own process')
    .option('--dir <dir>', 'network directory', DEFAULT_NETWORK_DIR)
    .option('--validators <n>', 'organisations (one validator each) of a new network', '4')
    .option('--chain-id <id>', 'chain id of a new network', 'trellis-local')
    .option('--api-port <port>', 'first API port of a new network', '7700')
    .option('--p2p-port <port>', 'first p2p port of a new network', '7800')
    .option('--foreground', 'stay attached; Ctrl+C stops the network')
    .action(networkUpCommand)
  network
    .command('down')
    .description('stop every node of the local network (data is kept)')
    .option('--dir <dir>', 'network directory', DEFAULT_NETWORK_DIR)
    .action(networkDownCommand)
  network
    .command('add-node')
    .description('prepare a validator node for an organisation joining the network (it votes once governance adds it)')
    .requiredOption('--org <org>', 'the organisation that runs it')
    .option('--dir <dir>', 'network directory', DEFAULT_NETWORK_DIR)
    .option('--api-port <port>', "the new node's API port (default: the next free one)")
    .option('--p2p-port <port>', "the new node's p2p port (default: the next free one)")
    .action(networkAddNodeCommand)
  network
    .command('status')
    .description("each node's height, round and peers")
    .option('--dir <dir>', 'network directory', DEFAULT_NETWORK_DIR)
    .action(networkStatusCommand)

  program
    .command('keygen')
    .description('generate a key pair into an encrypted key file (password from TRELLIS_KEY_PASSWORD or a prompt)')
    .requiredOption('--out <file>', 'key file to write')
    .option('--alg <alg>', 'p256 or ed25519', 'p256')
    .option('--force', 'overwrite an existing file')
    .action(keygenCommand)

  const client = (c: Command) => c.option('--node <url>', 'node API URL', DEFAULT_NODE)
  const signing = (c: Command) =>
    client(c)
      .requiredOption('--key <file>', 'encrypted key file of the signer')
      .option('--cert <pem>', 'the X.509 certificate of that key (chains with organisations)')
      .option('--chain-id <id>', 'chain id (default: asked from the node)')
      .option('--no-wait', 'return once accepted instead of waiting for the commit')
      .option('--proof-out <file>', 'write the commit proof to a file')

  signing(program.command('notarise').alias('notarize').argument('[file]', 'document to notarise (its SHA-256 is recorded)'))
    .description('record a document hash with the notary contract')
    .option('--hash <sha256>', 'record this hash instead of hashing a file')
    .option('--meta <key=value>', 'metadata entry (repeatable)', collect, [])
    .action(notariseCommand)
  signing(program.command('send'))
    .description('call a contract method in a transaction')
    .requiredOption('--contract <name>', 'contract')
    .requiredOption('--method <name>', 'method')
    .option('--args <json>', 'arguments as JSON', '{}')
    .action(sendCommand)
  client(program.command('query').argument('[contract]').argument('[method]').argument('[args]', 'arguments as JSON'))
    .description("run a contract's read-only method (at the latest or a past height)")
    .option('--contract <name>', 'contract (or the first argument)')
    .option('--method <name>', 'method (or the second argument)')
    .option('--args <json>', 'arguments as JSON (or the third argument)')
    .option('--height <h>', 'run against the state at this height')
    .action(queryCommand)

  // Contracts: build, deploy, govern, call and watch.
  const signer = (c: Command) =>
    client(c)
      .option('--key <file>', 'encrypted key file of the signer')
      .option('--cert <pem>', 'the X.509 certificate of that key (chains with organisations)')
      .option('--as <org>', "sign as this organisation's admin certificate (local networks only)")
      .option('--admin', "sign with the local network's genesis admin key of the first validator (local networks only)")
      .option('--network <dir>', 'local network directory for --as and --admin', DEFAULT_NETWORK_DIR)
      .option('--chain-id <id>', 'chain id (default: asked from the node)')
      .option('--no-wait', 'return once accepted instead of waiting for the commit')
  signer(program.command('call').argument('<contract>').argument('<method>').argument('[args]', 'arguments as JSON', '{}'))
    .description('call a contract method in a signed transaction and print its result')
    .action(callCommand)
  client(program.command('events'))
    .description('follow contract events as JSON lines (Ctrl+C to stop)')
    .option('--contract <name>', 'only events of this contract')
    .option('--name <event>', 'only events with this name')
    .option('--from-height <h>', 'replay from this height (default: only new events)')
    .option('--count <n>', 'exit after this many events')
    .action(eventsCommand)
  const contract = program.command('contract').description('build, deploy, upgrade, pause, resume, freeze and inspect contracts')
  contract
    .command('build')
    .argument('<source>', 'the contract module (TypeScript), e.g. contracts/asset-transfer/src/index.ts')
    .description('bundle a contract into one deterministic artifact (same source, same code hash)')
    .option('--out <file>', 'artifact file (default: build/<name>.contract.json)')
    .option('--name <name>', 'contract name (default: from the source path)')
    .action(contractBuildCommand)
  signer(contract.command('deploy').argument('<artifact>', 'built artifact (.contract.json)'))
    .description("deploy a contract (a chain admin's approval: sign with an admin key)")
    .option('--name <name>', 'deploy under this name (default: the artifact name)')
    .option('--init-args <json>', "arguments of the contract's init hook")
    .action(contractDeployCommand)
  signer(contract.command('upgrade').argument('<artifact>', 'built artifact of the new version'))
    .description('replace a contract with a new version, keeping its state (admin approval)')
    .option('--name <name>', 'contract to upgrade (default: the artifact name)')
    .option('--upgrade-args <json>', "arguments of the new code's upgrade hook")
    .action(contractUpgradeCommand)
  signer(contract.command('pause').argument('<name>'))
    .description('reject calls to a contract until resumed (admin approval)')
    .option('--reason <text>', 'recorded with the change')
    .action(contractStatusCommand('pause'))
  signer(contract.command('resume').argument('<name>'))
    .description('accept calls again (admin approval)')
    .action(contractStatusCommand('resume'))
  signer(contract.command('freeze').argument('<name>'))
    .description('stop a contract for good: no calls, no upgrades; state stays readable (admin approval)')
    .option('--reason <text>', 'recorded with the change')
    .action(contractStatusCommand('freeze'))
  signer(contract.command('approve').argument('<artifact|name>', 'artifact (deploy, upgrade) or contract name'))
    .description('propose the governance approval of one deploy, upgrade, pause, resume or freeze')
    .requiredOption('--operation <op>', 'deploy, upgrade, pause, resume or freeze')
    .option('--name <name>', 'contract name (default: the artifact name)')
    .option('--hook-args <json>', 'the init/upgrade arguments the deploy or upgrade must carry')
    .option('--description <text>', 'why, recorded with the proposal')
    .action(contractApproveCommand)
  client(contract.command('list')).description('contracts on the chain').action(contractListCommand)
  client(contract.command('info').argument('<name>'))
    .description("a contract's version, status, methods and argument schemas")
    .action(contractInfoCommand)
  // Organisations, certificates and governance.
  const ca = program.command('ca').description("an organisation's certificate authority")
  ca.command('create')
    .description("create an organisation's root CA (or an intermediate with --parent): ca.pem and an encrypted ca.key.json")
    .requiredOption('--org <id>', 'organisation id (the O of every certificate it issues)')
    .requiredOption('--out <dir>', 'directory for ca.pem and ca.key.json')
    .option('--name <cn>', 'common name of the CA')
    .option('--days <n>', 'validity in days', '3650')
    .option('--parent <dir>', 'issue an intermediate CA from the CA in this directory')
    .action(caCreateCommand)
  const cert = program.command('cert').description('certificates: issue, inspect, revoke')
  cert
    .command('issue')
    .description('issue a certificate with a role and attributes from a CA (a new key unless --key)')
    .requiredOption('--ca <dir>', 'directory of the issuing CA (ca.pem, ca.key.json)')
    .requiredOption('--name <cn>', "the holder's name (identity <org>/<name>)")
    .requiredOption('--role <role>', 'admin, client, node, device or auditor')
    .option('--attr <key=value>', 'an attribute contracts can read (repeatable)', collect, [])
    .option('--days <n>', 'validity in days', '365')
    .option('--key <file>', 'certify this existing key (renewal) instead of generating one')
    .requiredOption('--out <prefix>', 'writes <prefix>.pem (and <prefix>.key.json for a new key)')
    .action(certIssueCommand)
  client(cert.command('expiring'))
    .description("member organisations' CA certificates expiring soon (also the trellis_certificate_expiry_timestamp_seconds metric)")
    .option('--days <n>', 'window in days', '30')
    .action(certExpiringCommand)
  cert.command('show').argument('<pem>').description("a certificate's subject, role, attributes and validity").action(certShowCommand)
  signer(cert.command('revoke'))
    .description('propose revoking a certificate from a height on')
    .option('--target <pem>', 'the certificate to revoke')
    .option('--org <id>', 'its organisation (without --target)')
    .option('--serial <hex>', 'its serial (without --target)')
    .option('--reason <text>', 'recorded with the revocation')
    .option('--at-height <h>', 'effective height (default: the block after the decision)')
    .option('--description <text>', 'why, recorded with the proposal')
    .action(certRevokeCommand)
  const org = program.command('org').description('the consortium: member organisations')
  client(org.command('list')).description('organisations and their CAs').option('--json', 'print JSON').action(orgListCommand)
  client(org.command('show').argument('<id>')).description('one organisation').action(orgShowCommand)
  signer(org.command('invite'))
    .description('propose admitting an organisation with its CA certificate(s)')
    .requiredOption('--id <id>', 'organisation id (the O of its certificates)')
    .option('--name <name>', 'display name')
    .option('--ca <pem>', 'CA certificate: the root, then any intermediates (repeatable)', collect, [])
    .option('--description <text>', 'why, recorded with the proposal')
    .action(orgInviteCommand)
  signer(org.command('update').argument('<id>'))
    .description("propose replacing an organisation's CA certificates or name")
    .option('--name <name>', 'new display name')
    .option('--ca <pem>', 'the new CA bundle (repeatable)', collect, [])
    .option('--description <text>', 'why, recorded with the proposal')
    .action(orgUpdateCommand)
  signer(org.command('remove').argument('<id>'))
    .description('propose removing an organisation')
    .option('--description <text>', 'why, recorded with the proposal')
    .action(orgRemoveCommand)
  const proposal = program.command('proposal').description('governance proposals and votes')
  signer(proposal.command('create'))
    .description('propose any governance action (JSON)')
    .requiredOption('--action <json>', 'e.g. {"type":"config.set","proposalTtlMs":86400000}')
    .option('--description <text>', 'why, recorded with the proposal')
    .action(proposalCreateCommand)
  signer(proposal.command('vote').argument('<id>'))
    .description('vote for your organisation; the deciding vote executes the proposal')
    .option('--yes', 'approve')
    .option('--no', 'reject')
    .action(proposalVoteCommand)
  signer(proposal.command('cancel').argument('<id>'))
    .description('withdraw your organisation’s open proposal')
    .action(proposalCancelCommand)
  client(proposal.command('list'))
    .description('proposals and their votes')
    .option('--status <s>', 'open, executed, rejected, failed, cancelled or expired')
    .option('--json', 'print JSON')
    .action(proposalListCommand)
  client(proposal.command('show').argument('<id>')).description('one proposal with its votes').action(proposalShowCommand)
  const permission = program.command('permission').description("who may call a contract's methods")
  signer(permission.command('set').argument('<contract>'))
    .description('propose an access rule for a contract method (or every method)')
    .option('--method <m>', "the method (default '*': every method without its own rule)")
    .option('--orgs <ids>', 'comma-separated organisations allowed')
    .option('--roles <roles>', 'comma-separated roles allowed')
    .option('--clear', 'remove the rule')
    .option('--description <text>', 'why, recorded with the proposal')
    .action(permissionSetCommand)
  client(permission.command('show').argument('<contract>')).description("a contract's access rules").action(permissionShowCommand)
  client(program.command('status')).description('node and chain status').action(statusCommand)
  client(program.command('tx').argument('<id>', 'tx id (hex)'))
    .description('a committed tx with its receipt')
    .option('--proof-out <file>', 'write its proof to a file')
    .action(txCommand)
  client(program.command('block').argument('<ref>', 'height, hash or "latest"'))
    .description('a block')
    .option('--full', 'include full transactions')
    .action(blockCommand)
  client(program.command('state').argument('<contract>').argument('<key>'))
    .description('a state value with its proof')
    .option('--height <h>', 'read at a past height')
    .option('--proof-out <file>', 'write its proof to a file')
    .action(stateCommand)
  client(program.command('history').argument('<contract>').argument('<key>'))
    .description("a key's past values, newest first")
    .option('--limit <n>', 'entries per page', '20')
    .option('--cursor <c>', 'next page cursor')
    .action(historyCommand)
  program
    .command('verify')
    .argument('<proof-file>', 'proof JSON (from --proof-out or the API)')
    .description('verify a proof offline against a trusted genesis (no node needed)')
    .option('--genesis <file>', 'trusted genesis.json')
    .option('--data <dir>', 'take genesis.json from this data directory')
    .option(
      '--valset <proof>',
      'a validator-set change (state proof of governance valset:<h> at height h-1), in order (repeatable)',
      collect,
      [],
    )
    .action(verifyCommand)
  return program
}

/** Runs the CLI; errors print as `error [CODE]: message` with exit code 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv)
  } catch (err) {
    if (err instanceof TrellisError) {
      const hint = err.code === 'SDK_NETWORK_ERROR' ? ' (is the node running? start one with: npm start, or trellis dev)' : ''
      process.stderr.write(`${style.err('error')} [${err.code}]: ${err.message}${hint}\n`)
    } else {
      const e = err as { code?: string; message?: string }
      const msg = e.code === 'ECONNREFUSED' ? 'cannot reach the node; is it running? (trellis dev)' : (e.message ?? String(err))
      process.stderr.write(`${style.err('error')}: ${msg}\n`)
    }
    process.exitCode = 1
  }
}
