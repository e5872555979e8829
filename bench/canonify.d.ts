/** The package ships types its `exports` map does not point at. */
declare module "@truestamp/canonify" {
  export function canonify(value: unknown): string | undefined;
}
