import { describe, expect, it } from "vitest";
import { authMode, authenticate, matchesAny, presentedKey } from "../../src/auth.js";
import { RouterError } from "../../src/errors.js";

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
