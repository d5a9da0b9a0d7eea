/** TypeScript/JavaScript source of a module that exports one embedded bundle. Deterministic. */
export function toEmbeddedSource(
	name: string,
	manifest: unknown,
	modelBytes: Uint8Array,
): string {
	return [
		`// Generated from the ${name} model bundle; do not edit. Regenerate: pnpm -F @mdp/static embed`,
		`export const ${name} = {`,
		`\tmanifest: ${JSON.stringify(manifest)},`,
		`\tmodelBase64: ${JSON.stringify(Buffer.from(modelBytes).toString("base64"))},`,
		"};",
		"",
	].join("\n");
}
