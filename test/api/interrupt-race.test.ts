// sb.interrupt() sent between the guest's flush of a prompt and its blocking
// read (the moment a person presses Ctrl-C at `input('name? ')`) must not be
// lost while the host waits for a line that never comes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox } from "../../src/api/index.js";

for (const isolation of ["thread", "process"] as const) {
  let pool: Pool;
  before(() => { pool = new Pool({ size: 1, isolation }); });
  after(async () => { await pool.close(); });

  test(`an interrupt sent on seeing input()'s prompt raises KeyboardInterrupt in input(), not after the timeout (${isolation})`, async () => {
    await using sb = await Sandbox.create({ pool, timeout: 20_000 });
    let release = () => {};
    const never = new Promise<void>((resolve) => { release = resolve; });
    async function* silent() {
      await never; // a person who has not typed yet
    }
    const result = await sb.run("try:\n    input('name? ')\nexcept KeyboardInterrupt:\n    print('caught')", {
      stdin: silent(),
      onStdout: (text) => { if (text.includes("name? ")) sb.interrupt(); },
    });
    release();
    assert.equal(result.error, null, result.error?.message);
    assert.equal(result.stdout, "name? caught\n");
  });

  test(`after a KeyboardInterrupt caught in input(), the next input() reads the next line instead of EOF (${isolation})`, async () => {
    await using sb = await Sandbox.create({ pool, timeout: 20_000 });
    let typed = () => {};
    const later = new Promise<void>((resolve) => { typed = resolve; });
    async function* person() {
      await later;
      yield "Ada\n";
    }
    const code = "try:\n    input('name? ')\nexcept KeyboardInterrupt:\n    print('caught')\nprint(input('again? '))";
    const result = await sb.run(code, {
      stdin: person(),
      onStdout: (text) => {
        if (text.includes("name? ")) sb.interrupt();
        if (text.includes("again? ")) typed();
      },
    });
    assert.equal(result.error, null, result.error?.message);
    assert.equal(result.stdout, "name? caught\nagain? Ada\n");
  });

  test(`a line typed after Ctrl-C cut short input()'s wait goes to the next input(), not to the interrupted one (${isolation})`, async () => {
    await using sb = await Sandbox.create({ pool, timeout: 20_000 });
    let typed = () => {};
    const later = new Promise<void>((resolve) => { typed = resolve; });
    async function* person() {
      sb.interrupt(); // Ctrl-C while the program waits for this line
      await later;
      yield "Ada\n";
    }
    const code = "try:\n    input('name? ')\nexcept KeyboardInterrupt:\n    print('caught')\nprint(input('again? '))";
    const result = await sb.run(code, {
      stdin: person(),
      onStdout: (text) => { if (text.includes("again? ")) typed(); },
    });
    assert.equal(result.error, null, result.error?.message);
    assert.equal(result.stdout, "name? caught\nagain? Ada\n");
  });
}
