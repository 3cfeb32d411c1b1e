/**
 * What makes an ELF file a kernel module btfd will hand to pahole: a relocatable object
 * (ET_REL, as every `.ko` is) for a 64-bit little-endian Linux architecture. Checked before pahole
 * runs, so a shared library or an executable named `x.ko` is refused with a code rather than
 * encoded and refused only at install.
 */
import { BtfdError } from '../../shared/errors.js';
import { ET_REL, type ElfLayout } from './elf-file.js';

/** e_machine of the 64-bit little-endian architectures Linux builds modules for. */
const KERNEL_MACHINES: ReadonlyMap<number, string> = new Map([
  [62, 'x86_64'], [183, 'arm64'], [243, 'riscv64'], [258, 'loongarch64'], [21, 'ppc64le'], [8, 'mips64el'],
]);

/** @throws BtfdError BTFD_ERR_ELF_UNSUPPORTED unless `layout` is a module btfd can encode */
export function checkKernelModule(layout: ElfLayout): void {
  if (layout.type !== ET_REL) {
    throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${layout.path}: not a relocatable object (e_type ${layout.type}), so not a kernel module`);
  }
  if (!KERNEL_MACHINES.has(layout.machine)) {
    throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${layout.path}: e_machine ${layout.machine} is not an architecture btfd knows Linux modules for (${[...KERNEL_MACHINES.values()].join(', ')})`);
  }
}
