/** Port the image's server listens on unless `--port` says otherwise. */
export const DEFAULT_IMAGE_PORT = 8080;
