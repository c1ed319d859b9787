// Per-run certificates for the local control plane, made with the openssl command line:
// a CA, the apiserver's serving cert, client certs, and the service-account key pair.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  clients: Record<string, { cert: string; key: string }>;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is needed to make the control plane certificates: apt-get install -y openssl');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

/** Clients: name -> [common name, organisation]. */
export function makePki(dir: string, clients: Record<string, [string, string?]>): Pki {
  const p = (f: string): string => path.join(dir, f);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', '2', '-subj', '/CN=modelgate-local-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const sign = (name: string, subj: string, ext: string): void => {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
    writeFileSync(p(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  };
  // 10.244.0.1: the node's bridge address, where pods reach the apiserver through a relay.
  sign('apiserver', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,IP:10.244.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  const out: Pki['clients'] = {};
  for (const [name, [cn, org]] of Object.entries(clients)) {
    sign(name, `/CN=${cn}${org ? `/O=${org}` : ''}`, 'extendedKeyUsage=clientAuth\n');
    out[name] = { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  }
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return { dir, caCert: p('ca.crt'), caKey: p('ca.key'), serverCert: p('apiserver.crt'), serverKey: p('apiserver.key'), saKey: p('sa.key'), saPub: p('sa.pub'), clients: out };
}

/** One more client certificate signed by the CA of an existing Pki (for example a node's). */
export function issueClient(pki: Pki, name: string, cn: string, org?: string): { cert: string; key: string } {
  const dir = pki.dir;
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}${org ? `/O=${org}` : ''}`], dir);
  writeFileSync(path.join(dir, `${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  const c = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  pki.clients[name] = c;
  return c;
}

export function kubeconfigYaml(server: string, caCert: string, cert: string, key: string, user: string): string {
  const b64 = (f: string): string => readFileSync(f).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: modelgate-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caCert)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(cert)}`,
    `    client-key-data: ${b64(key)}`,
    'contexts:',
    '- name: modelgate-local',
    '  context:',
    '    cluster: modelgate-local',
    `    user: ${user}`,
    'current-context: modelgate-local',
    '',
  ].join('\n');
}
