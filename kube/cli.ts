import { type ParseArgsConfig, parseArgs } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags, or the exit code to stop with (usage printed: 0 for --help, 2 for a bad flag). */
export type Cli<O extends Options> =
  | { ok: true; values: ReturnType<typeof parseArgs<{ options: O }>>["values"] }
  | { ok: false; code: number };

/** Parses a program's flags; `--help` prints the usage on stdout, a bad flag its message and the usage on stderr. */
export function parseCli<O extends Options>(options: O, usage: string, argv = process.argv.slice(2)): Cli<O> {
  let values: ReturnType<typeof parseArgs<{ options: O }>>["values"];
  try {
    values = parseArgs({ args: argv, options }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}`);
    return { ok: false, code: 2 };
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return { ok: false, code: 0 };
  }
  return { ok: true, values };
}
