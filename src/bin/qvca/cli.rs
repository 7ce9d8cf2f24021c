//! The command line: global options and one enum listing everything qvca does (SPEC.md).

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A certificate authority for the QlikView certificate trust: the QlikViewCA root, Server
/// certificates per machine, the QVProxy Client certificate, the license-service export,
/// backups, and the SecretsKey for connection strings.
#[derive(Debug, Parser)]
#[command(name = "qvca", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 success, 1 error, 2 usage, 3 refused (exists/would \
overwrite), 4 wrong password or integrity failure, 5 verification/health problems, 6 not found."
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (shown under their own heading, after a command's own options).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The CA's state directory [default: $XDG_DATA_HOME/qvca or ~/.local/share/qvca;
    /// %ProgramData%\QlikTech\qvca on Windows]
    #[arg(long, global = true, env = "QVCA_DIR", value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,

    /// File whose first line is the CA password (else the file named by QVCA_PASSWORD_FILE,
    /// else the password in QVCA_PASSWORD, else a prompt on a terminal)
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// File whose first line is the PKCS#12 password (else the file named by
    /// QVCA_PFX_PASSWORD_FILE, else the password in QVCA_PFX_PASSWORD, else a prompt)
    #[arg(long, global = true, value_name = "FILE")]
    pub pfx_password_file: Option<PathBuf>,

    /// The PKCS#11 module (vendor library) of the token that holds the root key, when the
    /// key's URI has no module-path (e.g. /usr/lib/softhsm/libsofthsm2.so)
    #[arg(long, global = true, env = "QVCA_PKCS11_MODULE", value_name = "PATH")]
    pub pkcs11_module: Option<PathBuf>,

    /// File whose first line is the token's user PIN (else pin-source=file: in the key's URI,
    /// else the PIN in QVCA_PKCS11_PIN, else a prompt on a terminal)
    #[arg(long, global = true, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,

    /// Machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Answer yes to confirmations (init --force, renew --root, restore over a CA, revoke
    /// need it when no terminal can ask)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Print only errors
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

/// Every qvca command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The QMS first start in one idempotent step: root, Server and Client certificates,
    /// license-service export
    Setup(SetupArgs),
    /// Create the QlikViewCA root
    Init(InitArgs),
    /// Issue Server or Client certificates
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Sign a node's certificate request (PKCS#10) as a Server or Client certificate: the key
    /// stays on the node (keyless enrolment)
    Sign(SignArgs),
    /// List the certificates: the seed's table with serial, expiry and status
    List(ListArgs),
    /// Details of one certificate of the CA
    Show(ShowArgs),
    /// Details of any PEM, DER, CRL or PKCS#12 file
    Inspect(InspectArgs),
    /// Verify certificates against the root: chain, validity, key usages, name (exit 5 on problems)
    Verify(VerifyArgs),
    /// The CA state: 0 Initializing, 1 Certificates not installed, 2 Running
    Status,
    /// Export the license-service files, a PKCS#12 of one certificate, or the root
    #[command(subcommand)]
    Export(ExportCommand),
    /// Everything one node needs: PFX files, the root, install scripts (--keyless: no key at all)
    Package(PackageArgs),
    /// Back up the whole CA into one password-protected PKCS#12 file (or verify a backup)
    Backup(BackupArgs),
    /// Restore the CA from a backup
    Restore(RestoreArgs),
    /// Change the CA password, re-encrypting every key atomically (a --no-password CA gains one)
    Passwd(PasswdArgs),
    /// The SecretsKey: derive it, encrypt and decrypt connection strings, rotate tokens
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The root key in a PKCS#11 token (HSM): move a file-key CA's root key into one
    #[command(subcommand)]
    Hsm(HsmCommand),
    /// Re-issue certificates with a new key and serial (the old ones are marked superseded)
    Renew(RenewArgs),
    /// Revoke a Server or Client certificate (then run `qvca crl`)
    Revoke(RevokeArgs),
    /// Write a CRL signed by the root (PEM)
    Crl(CrlArgs),
    /// Health checks: permissions, keys, expiry, index, license-service export, CRL (exit 5 on findings)
    Doctor(DoctorArgs),
    /// The operations log: every state change, hash-chained; --verify checks the chain (exit 5
    /// if broken)
    Log(LogArgs),
    /// The port tables of the seeds, or firewall rules that open them
    Ports(PortsArgs),
    /// Signed License Keys
    #[command(subcommand)]
    License(LicenseCommand),
    /// Shell completions (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Manual pages (roff), generated from the same definitions: `qvca man > qvca.1`,
    /// `qvca man issue server` for one command's page, `--out-dir DIR` for every page
    Man(ManArgs),
}

/// `man` arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (e.g. `issue server`) [default: the top page]
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write every page (qvca.1, qvca-issue.1, qvca-issue-server.1 ...) into DIR instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out_dir: Option<PathBuf>,
}

/// `renew` arguments.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Certificates to renew: machine names, QVProxy, serials (QlikViewCA needs --root)
    #[arg(
        value_name = "NAME",
        required_unless_present = "expiring_within",
        conflicts_with = "expiring_within"
    )]
    pub names: Vec<String>,
    /// Renew every valid Server and Client certificate that expires within DAYS
    #[arg(long, value_name = "DAYS")]
    pub expiring_within: Option<u32>,
    /// Renew the root itself (same key and subject, new serial and validity)
    #[arg(long)]
    pub root: bool,
    /// Validity of the new certificates in days [default: from the profile]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36525))]
    pub days: Option<u32>,
    /// Key generation threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Report what would be renewed; write nothing (no password needed)
    #[arg(long, conflicts_with = "root")]
    pub dry_run: bool,
}

/// `revoke` arguments.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate: a name (its current certificate) or a serial
    #[arg(value_name = "NAME|SERIAL")]
    pub target: String,
    /// keyCompromise, superseded, cessationOfOperation, affiliationChanged or unspecified
    #[arg(long, value_name = "R", default_value = "unspecified")]
    pub reason: String,
    /// Report what would be revoked; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `crl` arguments.
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Output file [default: <ca-dir>/crl.pem]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file (the CRL file the CA last wrote is always kept current)
    #[arg(long)]
    pub force: bool,
    /// Days until nextUpdate
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
}

/// `log` arguments.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only records from this day (YYYY-MM-DD, UTC) or moment (RFC 3339) on
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Check the hash chain and that the log agrees with the index (exit 5 if broken)
    #[arg(long)]
    pub verify: bool,
}

/// `doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Warn about certificates that expire within N days
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warn_days: u32,
    /// Output format: text, or prometheus (the text exposition format, for node_exporter's
    /// textfile collector); --json as for every command
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: DoctorFormat,
    /// Where backups are written (`backup --dir`): the age of the newest is reported
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// `doctor --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// One line per check.
    Text,
    /// Prometheus text exposition format.
    Prometheus,
}

/// `ports` arguments.
#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Print rules for this firewall instead of the tables
    #[arg(long, value_name = "TOOL", value_parser = firewalls())]
    pub firewall: Option<qvca::qlik::ports::Firewall>,
    /// Only the services that run on this node (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "ROLE", value_parser = role_names())]
    pub role: Vec<String>,
}

/// The role names `--role` accepts (the library's, so the two never drift apart).
pub(crate) fn role_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(qvca::qlik::ports::Role::ALL.map(|r| r.as_str()))
}

/// `license` subcommands.
#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Decode a Signed License Key (JWT): header and claims; the signature is NOT verified
    Inspect(LicenseInspectArgs),
}

/// `license inspect` arguments.
#[derive(Debug, Args)]
pub struct LicenseInspectArgs {
    /// The key, or a file holding it [default: stdin]; line breaks are ignored
    #[arg(value_name = "SLK")]
    pub key: Option<String>,
}

/// `completions` arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `hsm` subcommands.
#[derive(Debug, Subcommand)]
pub enum HsmCommand {
    /// Move this CA's root key from its key file into a PKCS#11 token, keeping the root
    /// certificate (the key is imported sensitive and not extractable; the key file is removed
    /// once the token key is proven to sign for the root)
    Migrate(HsmMigrateArgs),
}

/// `hsm migrate` arguments.
#[derive(Debug, Args)]
pub struct HsmMigrateArgs {
    /// The token and the label for the key, as a PKCS#11 URI (RFC 7512), e.g.
    /// 'pkcs11:token=qvca;object=qvca-root' (never with a PIN in it)
    #[arg(long, value_name = "URI")]
    pub key: String,
    /// Files whose qvca:v1 tokens are moved to qvca:v2 in the same step, each rewritten in
    /// place (tokens elsewhere keep working: the v1 key is escrowed under the token's key)
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub rewrap: Vec<std::path::PathBuf>,
    /// The context label(s) the tokens in the --rewrap files were made for [default: the
    /// empty context]
    #[arg(long, value_name = "LABEL")]
    pub context: Vec<String>,
}

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print the SecretsKey's key id (and with --reveal the key itself)
    Derive(SecretsDeriveArgs),
    /// Encrypt a value from stdin (or a prompt), or every line of --in, into tokens (qvca:v1,
    /// or qvca:v2 when the root key is in a PKCS#11 token)
    Encrypt(SecretsCryptArgs),
    /// Decrypt a token from stdin, or every token line of --in
    Decrypt(SecretsCryptArgs),
    /// Re-encrypt tokens made under an older root's SecretsKey under the current one
    Rewrap(SecretsRewrapArgs),
}

/// `secrets derive` arguments.
#[derive(Debug, Args)]
pub struct SecretsDeriveArgs {
    /// Print the 32-byte key itself (keep it secret)
    #[arg(long)]
    pub reveal: bool,
    /// Encoding of the revealed key
    #[arg(long, value_enum, default_value = "base64")]
    pub format: KeyFormat,
}

/// Encodings for `secrets derive --reveal`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyFormat {
    /// Lower-case hex
    Hex,
    /// Standard base64 (what Qlik's connectors take as a 32-byte key)
    Base64,
}

/// `secrets encrypt` / `secrets decrypt` arguments.
#[derive(Debug, Args)]
pub struct SecretsCryptArgs {
    /// The context label the token is bound to (a token made for one context does not decrypt in another)
    #[arg(long, value_name = "LABEL", default_value = "")]
    pub context: String,
    /// Process every line of FILE (needs --out)
    #[arg(long = "in", value_name = "FILE", requires = "out")]
    pub input: Option<PathBuf>,
    /// Where the processed lines go (written atomically, mode 0600)
    #[arg(long, value_name = "FILE", requires = "input")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file
    #[arg(long)]
    pub force: bool,
}

/// `secrets rewrap` arguments.
#[derive(Debug, Args)]
pub struct SecretsRewrapArgs {
    /// A qvca backup holding the old root (its password: --pfx-password-file,
    /// QVCA_PFX_PASSWORD_FILE or QVCA_PFX_PASSWORD) [default, for a CA moved into a PKCS#11
    /// token with `hsm migrate`: its own escrowed v1 key]
    #[arg(long, value_name = "OLD.pfx")]
    pub from_backup: Option<PathBuf>,
    /// A text file with tokens anywhere in it [default: stdin]
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Replace --in atomically (every byte but the tokens unchanged); through a symbolic link
    /// the target is rewritten, keeping its mode, owner and group
    #[arg(long, requires = "input", conflicts_with = "out")]
    pub in_place: bool,
    /// Write the result to FILE [default: stdout]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file; with --in-place, rewrite a file that has other hard
    /// links (they keep the old contents)
    #[arg(long)]
    pub force: bool,
    /// The context label(s) the tokens were made for; each token keeps the one it
    /// authenticates under [default: the empty context]
    #[arg(long, value_name = "LABEL")]
    pub context: Vec<String>,
}

/// `backup` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    /// `backup verify FILE`.
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// Write exactly this file (an existing one only with --force, once the new backup is verified)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dir", "keep"])]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Write qvca-backup-<UTC timestamp>.pfx into DIR [default: the current directory]
    #[arg(long, visible_alias = "out-dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Afterwards delete all but the newest N backups of this CA in DIR (only files that open
    /// under this backup password and hold this CA's root; others are left alone)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
    /// 3DES/SHA-1 encryption for Windows Server 2016 and older
    #[arg(long)]
    pub legacy: bool,
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Check a backup: password, integrity, keys against certificates, chain, completeness
    Verify(BackupVerifyArgs),
}

/// `backup verify` arguments.
#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    /// The backup file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `restore` arguments.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Report what would happen and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace a CA with a different root (it is kept aside), or restore a PFX without qvca
    /// state from its certificates alone
    #[arg(long)]
    pub force: bool,
}

/// `passwd` arguments.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// File whose first line is the NEW CA password (else the file named by
    /// QVCA_NEW_PASSWORD_FILE, else the password in QVCA_NEW_PASSWORD, else a prompt, twice)
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
}

/// `setup` arguments.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Machines that get Server certificates [default: this host's name]
    #[arg(value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Accept fully qualified domain names (the seed says: use machine names)
    #[arg(long)]
    pub allow_fqdn: bool,
    /// Store keys WITHOUT a password if a new CA is created (labs only)
    #[arg(long)]
    pub no_password: bool,
    /// Key generation threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// License-service export directory [default: <ca-dir>/Exported Certificates]
    #[arg(long, visible_alias = "out-dir", value_name = "DIR")]
    pub export_dir: Option<PathBuf>,
}

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The root's common name
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// Key type of the root key
    #[arg(long, value_name = "T", value_parser = key_types())]
    pub key_type: Option<qvca::pki::key::KeyType>,
    /// Validity in days [default: from the profile, 3653]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36525))]
    pub days: Option<u32>,
    /// A root profile to use instead of the built-in templates/root.toml
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Store keys WITHOUT a password (labs only; status and doctor keep saying so)
    #[arg(long)]
    pub no_password: bool,
    /// Replace an existing CA (the old one is kept aside as <ca-dir>.replaced-<timestamp>)
    #[arg(long)]
    pub force: bool,
    /// Keep the root key in a PKCS#11 token: an RFC 7512 URI such as
    /// 'pkcs11:token=QVCA;object=qvca-root'; the key object= names is used if it exists, else
    /// generated there (never a PIN in the URI: --pin-file, pin-source=file:, QVCA_PKCS11_PIN)
    #[arg(long, value_name = "URI")]
    pub key: Option<String>,
}

/// `issue` subcommands.
#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Issue Server certificates, one per machine name
    Server(IssueServerArgs),
    /// Issue the Client certificate (default name QVProxy)
    Client(IssueClientArgs),
}

/// Options shared by both `issue` subcommands.
#[derive(Debug, Args)]
pub struct LeafArgs {
    /// Key type [default: from the profile, rsa2048]
    #[arg(long, value_name = "T", value_parser = key_types())]
    pub key_type: Option<qvca::pki::key::KeyType>,
    /// Validity in days [default: from the profile, 1826]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36525))]
    pub days: Option<u32>,
    /// A profile to use instead of the built-in template
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Replace an existing valid certificate (the old one is marked superseded)
    #[arg(long)]
    pub force: bool,
    /// For scripts: a valid certificate that is kept counts as success (exit 0, not 3)
    #[arg(long, conflicts_with = "force")]
    pub if_missing: bool,
    /// Report what would be issued, replaced or kept; write nothing (no password needed)
    #[arg(long)]
    pub dry_run: bool,
}

/// `issue server` arguments.
#[derive(Debug, Args)]
pub struct IssueServerArgs {
    /// Machine names (not IP addresses, not FQDNs)
    #[arg(value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Read machine names from FILE, one a line (blank lines and # comments ignored)
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Key generation threads [default: all cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Accept fully qualified domain names (the seed says: use machine names)
    #[arg(long)]
    pub allow_fqdn: bool,
    /// Options shared with `issue client`.
    #[command(flatten)]
    pub leaf: LeafArgs,
}

/// `issue client` arguments.
#[derive(Debug, Args)]
pub struct IssueClientArgs {
    /// The Client certificate's common name [default: the template's subject.common_name,
    /// QVProxy]
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Options shared with `issue server`.
    #[command(flatten)]
    pub leaf: LeafArgs,
}

/// `sign` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("profile").required(true).args(["server", "client"])))]
pub struct SignArgs {
    /// The request: PEM (BEGIN CERTIFICATE REQUEST or certreq's BEGIN NEW CERTIFICATE
    /// REQUEST), base64 or DER; - reads standard input
    #[arg(value_name = "REQUEST")]
    pub request: PathBuf,
    /// Sign with the Server profile (NAME must be a machine name)
    #[arg(long)]
    pub server: bool,
    /// Sign with the Client profile
    #[arg(long)]
    pub client: bool,
    /// The name to issue to [default: the request's common name; QVProxy for --client
    /// without one]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Validity in days [default: from the profile, 1826]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36525))]
    pub days: Option<u32>,
    /// Where the certificate goes (PEM) [default: <NAME>.cer in the current directory]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Accept a fully qualified domain name as the machine name (the seed says: use machine
    /// names)
    #[arg(long, requires = "server")]
    pub allow_fqdn: bool,
    /// Replace a valid certificate for NAME (it is marked superseded) and an existing FILE
    #[arg(long)]
    pub force: bool,
}

/// `list` arguments.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also list superseded certificates
    #[arg(long)]
    pub all: bool,
    /// Only certificates of this kind: root, server or client
    #[arg(long, value_name = "KIND")]
    pub kind: Option<qvca::domain::kind::CertKind>,
    /// Only certificates in this state: valid, expiring, expired, revoked or superseded
    #[arg(long, value_name = "STATUS")]
    pub status: Option<qvca::store::CertState>,
    /// Only certificates in use that expire within DAYS (or have expired)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=36525))]
    pub expiring_within: Option<u32>,
    /// Every column in full, whatever the terminal's width (piped output is never cut)
    #[arg(long)]
    pub wide: bool,
}

/// `show` arguments.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A name (machine name, QVProxy, QlikViewCA) or a serial number in hex
    #[arg(value_name = "NAME|SERIAL")]
    pub target: String,
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A PEM or DER certificate, a CRL, or a PKCS#12 (.pfx/.p12) file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Certificate files to verify [default: every current certificate of the CA]; further
    /// certificates in a file (a full chain) are used as intermediates
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The machine name the certificate must be valid for
    #[arg(long, value_name = "MACHINE")]
    pub name: Option<String>,
    /// Verify against this root certificate instead of the CA's
    #[arg(long, value_name = "FILE")]
    pub root: Option<PathBuf>,
    /// Intermediate CA certificates (PEM, one or more) between the certificates and the root
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,
    /// Check revocation against this CRL [default: the CA's crl.pem, if any]
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
}

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write root.pem, server.pem and server_key.pem for the Qlik License Service
    LicenseService(ExportLicenseServiceArgs),
    /// Write a PKCS#12 (.pfx) with one certificate, its private key and the root
    Pfx(ExportPfxArgs),
    /// Write the root certificate for a trust store (PEM, or DER .cer with --der)
    Root(ExportRootArgs),
    /// Write one certificate without its key (PEM, with --chain followed by the root; or DER)
    Cert(ExportCertArgs),
}

/// `export cert` arguments.
#[derive(Debug, Args)]
pub struct ExportCertArgs {
    /// The certificate: a machine name, QVProxy, QlikViewCA, or a serial (or its 8+ digit prefix)
    #[arg(value_name = "NAME|SERIAL")]
    pub name: String,
    /// Follow the certificate with the root (PEM only)
    #[arg(long, conflicts_with = "der")]
    pub chain: bool,
    /// Write DER (one certificate, the .cer Windows imports) instead of PEM
    #[arg(long)]
    pub der: bool,
    /// Output file [default: stdout for PEM; <NAME>.cer for DER]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
}

/// `export pfx` arguments.
#[derive(Debug, Args)]
pub struct ExportPfxArgs {
    /// The certificate: a machine name, QVProxy, or a serial
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Output file [default: <NAME>.pfx]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// 3DES/SHA-1 encryption for Windows Server 2016 and older (they cannot import AES)
    #[arg(long)]
    pub legacy: bool,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
}

/// `package` arguments.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The node's machine name (it needs a Server certificate, except with --keyless)
    #[arg(value_name = "MACHINE")]
    pub machine: String,
    /// The package folder [default: ./<MACHINE>-package]
    #[arg(long, visible_alias = "out-dir", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// 3DES/SHA-1 PFX files for Windows Server 2016 and older
    #[arg(long, conflicts_with = "keyless")]
    pub legacy: bool,
    /// No private key in the package: the node makes its keys and requests (certreq or
    /// openssl), `qvca sign` signs them, the node accepts the certificates
    #[arg(long)]
    pub keyless: bool,
    /// Key type the node makes (with --keyless) [default: rsa2048]
    #[arg(long, value_name = "T", value_parser = key_types(), requires = "keyless")]
    pub key_type: Option<qvca::pki::key::KeyType>,
    /// Where Windows keeps the keys (with --keyless) [default: capi for RSA, cng for ECDSA]
    #[arg(long, value_name = "S", value_parser = key_storages(), requires = "keyless")]
    pub key_storage: Option<qvca::ops::package::KeyStorage>,
    /// The services this node runs (repeat or comma-separate), so its README lists only their
    /// ports [default: every QlikView role]
    #[arg(long, value_delimiter = ',', value_name = "ROLE", value_parser = role_names())]
    pub role: Vec<String>,
    /// Replace an existing package folder (only a qvca package; it is kept aside)
    #[arg(long)]
    pub force: bool,
}

/// `export license-service` arguments.
#[derive(Debug, Args)]
pub struct ExportLicenseServiceArgs {
    /// Whose Server certificate [default: this host's, else the only one]
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
    /// Export directory [default: <ca-dir>/Exported Certificates;
    /// %ProgramData%\QlikTech\LicenseService\Exported Certificates on Windows]
    #[arg(long, visible_alias = "out-dir", value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `export root` arguments.
#[derive(Debug, Args)]
pub struct ExportRootArgs {
    /// Write DER (the .cer that certutil -addstore Root and MMC import) instead of PEM
    #[arg(long)]
    pub der: bool,
    /// Output file [default: stdout for PEM; QlikViewCA.cer for DER]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
}

/// `--key-type` values: the library's key types by their names (no mirror of the enum here).
fn key_types() -> impl clap::builder::TypedValueParser<Value = qvca::pki::key::KeyType> {
    clap::builder::PossibleValuesParser::new(qvca::pki::key::KeyType::ALL.map(|k| k.as_str()))
        .try_map(|name| name.parse::<qvca::pki::key::KeyType>())
}

/// `--firewall` values: the library's firewall tools by their names.
fn firewalls() -> impl clap::builder::TypedValueParser<Value = qvca::qlik::ports::Firewall> {
    clap::builder::PossibleValuesParser::new(qvca::qlik::ports::Firewall::ALL.map(|f| f.as_str()))
        .try_map(|name| name.parse::<qvca::qlik::ports::Firewall>())
}

/// `--key-storage` values: the library's key storages by their names.
fn key_storages() -> impl clap::builder::TypedValueParser<Value = qvca::ops::package::KeyStorage> {
    clap::builder::PossibleValuesParser::new(
        qvca::ops::package::KeyStorage::ALL.map(|k| k.as_str()),
    )
    .try_map(|name| name.parse::<qvca::ops::package::KeyStorage>())
}
