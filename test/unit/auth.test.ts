import { describe, expect, it } from "vitest";
import { authMode, authenticate, checkSettingsAndHost, matchesAny, presentedKey } from "../../src/auth.js";
import { RouterError } from "../../src/errors.js";
import { MIN_SECRET_LENGTH, isLoopbackOrIpHost, settingsProblem } from "../../src/settings.js";

const req = (headers: Record<string, string> = {}) => new Request("https://r.test/v1/models", { headers });
const rejection = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err as RouterError;
  }
  throw new Error("expected a rejection");
};

describe("client auth", () => {
  it("fails closed: no keys and no ROUTER_AUTH=off refuses everything", async () => {
    expect(authMode({})).toBe("closed");
    expect(authMode({ ROUTER_API_KEYS: " , " })).toBe("closed");
    const err = await rejection(authenticate(req({ authorization: "Bearer anything" }), {}));
    expect(err.status).toBe(401);
    expect(err.code).toBe("auth_not_configured");
  });

  it("ROUTER_AUTH=off lets requests through (local development)", async () => {
    expect(authMode({ ROUTER_AUTH: "off" })).toBe("off");
    await expect(authenticate(req(), { ROUTER_AUTH: "off" })).resolves.toBeUndefined();
  });

  it("only the exact value 'off' switches auth off", () => {
    expect(authMode({ ROUTER_AUTH: "OFF", ROUTER_API_KEYS: "k" })).toBe("keys");
    expect(authMode({ ROUTER_AUTH: "false" })).toBe("closed");
  });

  it("reads Bearer first, then x-api-key", () => {
    expect(presentedKey(req({ authorization: "Bearer  k1 " }))).toBe("k1");
    expect(presentedKey(req({ "x-api-key": "k2" }))).toBe("k2");
    expect(presentedKey(req({ authorization: "Token k1" }))).toBeUndefined();
  });

  it("compares keys by content, whatever their length", async () => {
    expect(await matchesAny("k1", ["k0", "k1"])).toBe(true);
    expect(await matchesAny("k", ["k1"])).toBe(false);
    expect(await matchesAny("k1x", ["k1"])).toBe(false);
    expect(await matchesAny("", [])).toBe(false);
  });
});

describe("settings the Worker refuses to run with", () => {
  const at = (url: string) => new Request(url);
  const thrown = (run: () => void) => {
    try {
      run();
    } catch (err) {
      return err as RouterError;
    }
    throw new Error("expected a throw");
  };

  it("auth off together with keys is a config error, not a choice", () => {
    expect(settingsProblem({ ROUTER_AUTH: "off", ROUTER_API_KEYS: "long-enough-key" })).toMatch(/^ROUTER_AUTH=off and ROUTER_API_KEYS are both set/);
    const err = thrown(() => checkSettingsAndHost(at("http://127.0.0.1/v1/models"), { ROUTER_AUTH: "off", ROUTER_API_KEYS: "long-enough-key" }));
    expect([err.status, err.type, err.code]).toEqual([500, "api_error", "router_misconfigured"]);
  });

  it(`keys shorter than ${MIN_SECRET_LENGTH} characters are refused, by position, never by value`, () => {
    expect(MIN_SECRET_LENGTH).toBe(8);
    expect(settingsProblem({ ROUTER_API_KEYS: "long-enough-key, 1234567" })).toBe(
      "ROUTER_API_KEYS entry 2 is shorter than 8 characters; the router refuses secrets it cannot redact safely (use a long random value)",
    );
    expect(settingsProblem({ ROUTER_API_KEYS: "12345678", ROUTER_ADMIN_KEY: "adm" })).toMatch(/^ROUTER_ADMIN_KEY is shorter than 8 characters/);
    expect(settingsProblem({ ROUTER_API_KEYS: "12345678", ROUTER_ADMIN_KEY: "admin-key" })).toBeUndefined();
    expect(settingsProblem({})).toBeUndefined();
  });

  it("with auth off only localhost and IP literals are answered", () => {
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "10.0.0.5", "[fd00::1]"]) expect(isLoopbackOrIpHost(host), host).toBe(true);
    for (const host of ["rebound.example", "localhost.example", "127.0.0.1.nip.io", "router.test", "[evil]"]) expect(isLoopbackOrIpHost(host), host).toBe(false);
    const err = thrown(() => checkSettingsAndHost(at("http://rebound.example:8787/v1/models"), { ROUTER_AUTH: "off" }));
    expect([err.status, err.code]).toEqual([403, "host_not_allowed"]);
    expect(() => checkSettingsAndHost(at("http://[::1]:8787/v1/models"), { ROUTER_AUTH: "off" })).not.toThrow();
    expect(() => checkSettingsAndHost(at("http://rebound.example/v1/models"), { ROUTER_API_KEYS: "long-enough-key" })).not.toThrow();
  });

  it("the start scripts apply the same rules (scripts/startup-checks.mjs)", async () => {
    const scripts = "../../scripts/startup-checks.mjs";
    const checks = await import(/* @vite-ignore */ scripts);
    expect(checks.MIN_SECRET_LENGTH).toBe(MIN_SECRET_LENGTH);
    expect(checks.startupDecision({ ip: "127.0.0.1", bindings: { ROUTER_AUTH: "off", ROUTER_API_KEYS: "long-enough-key" } }).errors[0]).toBe(settingsProblem({ ROUTER_AUTH: "off", ROUTER_API_KEYS: "long-enough-key" }));
    expect(checks.shortSecrets({ ROUTER_API_KEYS: "long-enough-key,1234567" })[0]).toBe(settingsProblem({ ROUTER_API_KEYS: "long-enough-key,1234567" }));
  });
});
