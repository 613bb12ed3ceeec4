import {
  randomShareGroup,
  renderAclFile,
  renderMosquittoConfig,
  renderPlatformAclFile,
  renderProvisioningAclFile,
} from '@drover/pki';

const base = {
  dir: '/b',
  fleetPort: 8883,
  provisioningPort: 8884,
  platformPort: 8885,
  caFile: '/b/fleet-chain.pem',
  bootstrapCaFile: '/b/bootstrap-ca.pem',
  serviceCaFile: '/b/service-ca.pem',
  certFile: '/b/server.crt',
  keyFile: '/b/server.key',
  crlFile: '/b/fleet.crl',
  aclFile: '/b/fleet.acl',
  provisioningAclFile: '/b/provisioning.acl',
  platformAclFile: '/b/platform.acl',
  persistence: true,
};

function listener(conf: string, port: number): string {
  const start = conf.indexOf(`listener ${port} `);
  const next = conf.indexOf('\nlistener ', start + 1);
  return conf.slice(start, next === -1 ? undefined : next);
}

describe('renderMosquittoConfig', () => {
  const conf = renderMosquittoConfig(base);

  it('sets per-listener security before any listener', () => {
    expect(conf.indexOf('per_listener_settings true')).toBeLessThan(conf.search(/^listener /m));
  });

  it.each([
    [8883, '/b/fleet-chain.pem', '/b/fleet.acl', true],
    [8884, '/b/bootstrap-ca.pem', '/b/provisioning.acl', true],
    [8885, '/b/service-ca.pem', '/b/platform.acl', false],
  ])('listener %i: mTLS, identity as username, own CA and ACL', (port, ca, acl, clientIdFromCn) => {
    const l = listener(conf, port);
    for (const line of [
      `cafile ${ca}`,
      'tls_version tlsv1.2',
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      `acl_file ${acl}`,
    ]) {
      expect(l).toContain(`\n${line}\n`);
    }
    expect(l.includes('use_username_as_clientid true')).toBe(clientIdFromCn);
  });

  it('the fleet listener checks the CRL; no plain listener unless asked', () => {
    expect(listener(conf, 8883)).toContain('crlfile /b/fleet.crl');
    expect(conf).not.toMatch(/allow_anonymous true/);
    expect(conf).toContain('persistence_location /b/');
    const dev = renderMosquittoConfig({ ...base, plainPort: 1883, persistence: false });
    expect(listener(dev, 1883)).toContain('allow_anonymous true');
    expect(dev).not.toContain('persistence true');
  });
});

describe('ACL files', () => {
  it('devices get only +/+/%u/#; nothing grants # to a device', () => {
    const acl = renderAclFile();
    const rules = acl.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(rules).toEqual(['pattern readwrite +/+/%u/#']);
    expect(renderAclFile({ topicPrefix: 't1' })).toContain('pattern readwrite t1/+/+/%u/#');
  });

  it('bootstrap identities get their own request and response topics only', () => {
    const rules = renderProvisioningAclFile()
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rules).toEqual([
      'pattern write provisioning/%u/req',
      'pattern read provisioning/%u/res',
    ]);
  });

  it('the ingress gets exact topics on the platform listener, under its user only', () => {
    const rules = renderPlatformAclFile()
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('user drover-ingress');
    expect(rules).toContain('topic read +/+/+/#');
    expect(rules).toContain('topic write provisioning/+/res');
    expect(rules.some((r) => r.startsWith('pattern'))).toBe(false);
    expect(rules.some((r) => / #$/.test(r))).toBe(false);
  });

  it.each(['a/b', '#', '+', ''])('refuses topic prefix %p', (prefix) => {
    if (prefix === '') expect(renderAclFile({ topicPrefix: prefix })).toContain('+/+/%u/#');
    else expect(() => renderAclFile({ topicPrefix: prefix })).toThrow();
  });

  it('share groups are random and valid MQTT_SHARE_GROUP values', () => {
    const a = randomShareGroup();
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(randomShareGroup()).not.toBe(a);
  });
});
