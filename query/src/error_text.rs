//! Error codes people can read (SPEC 7.6): HRESULT decoding for every code,
//! and the text of the codes most seen in Windows and Configuration Manager
//! deployments.
//!
//! The one table of texts is [`KNOWN`]; `SHOW ERROR`, the table form of
//! `FAILURES ... BY ERROR` and `HISTORY`, and the dashboard all read it
//! through [`describe`].
//!
//! Sources of the texts (system message texts as Windows prints them):
//! * Win32 error codes: `winerror.h` / "System Error Codes" (Microsoft Learn);
//!   a Win32 code `n` also appears as the HRESULT `0x8007xxxx`
//!   (`HRESULT_FROM_WIN32`), and both spellings find its text;
//! * Windows Installer (msiexec) exit codes 1601-1650 and 3010/3017:
//!   "MsiExec.exe and InstMsi.exe error messages" (Microsoft Learn);
//! * COM/OLE HRESULTs (`E_FAIL`, `E_ACCESSDENIED`, ...), the certificate
//!   trust code `CERT_E_UNTRUSTEDROOT` (`0x800B0109`) and WMI
//!   `WBEM_E_*`: `winerror.h`, `wbemcli.h`;
//! * Windows Update Agent `WU_E_*` (facility 36): `wuerror.h` / "Windows
//!   Update error codes by component" (Microsoft Learn);
//! * BITS / WinHTTP (facility 12 and 25): `winhttp.h`, `bitsmsg.h`;
//! * Configuration Manager client codes `0x87D0xxxx` (facility 0x7D0):
//!   the ConfigMgr client's own message table, as the console and
//!   `CMTrace` error lookup print it.
//!
//! Invariants: the table is sorted by code with no code twice (a unit test
//! checks it), so lookups are a binary search; decoding never fails — any
//! 32-bit value has HRESULT parts.

use rollcall_engine::ErrorCode;

/// Codes and their texts, sorted by code.
pub(crate) const KNOWN: &[(u32, &str)] = &[
    (0x0000_0000, "The operation completed successfully."),
    (0x8000_4001, "Not implemented."),
    (0x8000_4002, "No such interface supported."),
    (0x8000_4004, "Operation aborted."),
    (0x8000_4005, "Unspecified error."),
    (0x8000_FFFF, "Catastrophic failure."),
    (0x8004_0154, "Class not registered."),
    (0x8004_1001, "WMI: generic failure."),
    (0x8004_1002, "WMI: object cannot be found."),
    (0x8004_1010, "WMI: specified class is not valid."),
    (0x8004_1013, "WMI: provider could not be loaded."),
    (0x8007_0002, "The system cannot find the file specified."),
    (0x8007_0003, "The system cannot find the path specified."),
    (0x8007_0005, "Access is denied."),
    (0x8007_0006, "The handle is invalid."),
    (0x8007_000D, "The data is invalid."),
    (
        0x8007_000E,
        "Not enough memory resources are available to complete this operation.",
    ),
    (0x8007_0015, "The device is not ready."),
    (0x8007_0017, "Data error (cyclic redundancy check)."),
    (0x8007_001F, "A device attached to the system is not functioning."),
    (
        0x8007_0020,
        "The process cannot access the file because it is being used by another process.",
    ),
    (0x8007_0035, "The network path was not found."),
    (0x8007_0040, "The specified network name is no longer available."),
    (0x8007_0043, "The network name cannot be found."),
    (0x8007_0050, "The file exists."),
    (0x8007_0057, "The parameter is incorrect."),
    (0x8007_0070, "There is not enough space on the disk."),
    (
        0x8007_007B,
        "The filename, directory name, or volume label syntax is incorrect.",
    ),
    (0x8007_00B7, "Cannot create a file when that file already exists."),
    (0x8007_00C1, "%1 is not a valid Win32 application."),
    (0x8007_0102, "The wait operation timed out."),
    (
        0x8007_0424,
        "The specified service does not exist as an installed service.",
    ),
    (0x8007_042B, "The process terminated unexpectedly."),
    (0x8007_045B, "A system shutdown is in progress."),
    (0x8007_0490, "Element not found."),
    (0x8007_04C7, "The operation was canceled by the user."),
    (0x8007_0570, "The file or directory is corrupted and unreadable."),
    (
        0x8007_05B4,
        "This operation returned because the timeout period expired.",
    ),
    (
        0x8007_0641,
        "The Windows Installer Service could not be accessed.",
    ),
    (0x8007_0642, "User cancelled installation."),
    (0x8007_0643, "Fatal error during installation."),
    (0x8007_0644, "Installation suspended, incomplete."),
    (
        0x8007_0645,
        "This action is only valid for products that are currently installed.",
    ),
    (
        0x8007_064C,
        "The installation source for this product is not available.",
    ),
    (
        0x8007_0652,
        "Another installation is already in progress. Complete that installation before proceeding with this install.",
    ),
    (
        0x8007_0653,
        "This installation package could not be opened. Verify that the package exists and that you can access it.",
    ),
    (
        0x8007_0654,
        "This installation package could not be opened. Contact the application vendor to verify that this is a valid Windows Installer package.",
    ),
    (0x8007_065B, "Function failed during execution."),
    (
        0x8007_0660,
        "The Temp folder is on a drive that is full or is inaccessible.",
    ),
    (
        0x8007_0663,
        "This update package could not be opened. Verify that the update package exists and that you can access it.",
    ),
    (
        0x8007_0666,
        "Another version of this product is already installed.",
    ),
    (0x8007_0667, "Invalid command line argument."),
    (0x8007_06BA, "The RPC server is unavailable."),
    (0x8007_06BE, "The remote procedure call failed."),
    (
        0x8007_0BC2,
        "The requested operation is successful. Changes will not be effective until the system is rebooted.",
    ),
    (
        0x8007_0BC9,
        "The requested operation failed. A system reboot is required to roll back changes made.",
    ),
    (0x8007_2EE2, "The operation timed out."),
    (0x8007_2EE7, "The server name or address could not be resolved."),
    (
        0x8007_2EFD,
        "A connection with the server could not be established.",
    ),
    (
        0x8007_2EFE,
        "The connection with the server was terminated abnormally.",
    ),
    (0x8007_2F8F, "A security error occurred."),
    (0x8007_3712, "The component store has been corrupted."),
    (
        0x800B_0109,
        "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider.",
    ),
    (0x800F_081F, "The source files could not be found."),
    (
        0x800F_0922,
        "Processing advanced installers and generic commands failed.",
    ),
    (
        0x8019_0194,
        "The requested URL does not exist on the server (HTTP 404).",
    ),
    (0x8024_000B, "Windows Update: the operation was cancelled."),
    (
        0x8024_0017,
        "Windows Update: the operation was not performed because there are no applicable updates.",
    ),
    (
        0x8024_0020,
        "Windows Update: the operation did not complete because there is no logged-on interactive user.",
    ),
    (
        0x8024_0022,
        "Windows Update: the operation failed for all the updates.",
    ),
    (
        0x8024_200D,
        "Windows Update: the update needs to be downloaded again.",
    ),
    (
        0x8024_4018,
        "Windows Update: the server understood the request but declined to fulfil it (HTTP 403).",
    ),
    (
        0x8024_4019,
        "Windows Update: the server cannot find the requested URI (HTTP 404).",
    ),
    (
        0x8024_401C,
        "Windows Update: the server timed out waiting for the request (HTTP 408).",
    ),
    (
        0x8024_4022,
        "Windows Update: the service is temporarily overloaded (HTTP 503).",
    ),
    (
        0x8024_402C,
        "Windows Update: the proxy or target server name could not be resolved.",
    ),
    (0x8024_6007, "Windows Update: the update has not been downloaded."),
    (
        0x8024_6008,
        "Windows Update: the download manager could not connect to the Background Intelligent Transfer Service (BITS).",
    ),
    (0x87D0_0213, "Timeout occurred."),
    (
        0x87D0_0324,
        "The application was not detected after installation completed.",
    ),
    (
        0x87D0_0325,
        "The application was still detected after uninstall completed.",
    ),
    (0x87D0_0327, "Script is not signed."),
    (0x87D0_0607, "Content not found."),
    (0x87D0_0664, "Updates handler job was cancelled."),
    (
        0x87D0_0665,
        "No current or future service window exists to install software updates.",
    ),
    (
        0x87D0_0668,
        "Software update still detected as actionable after apply.",
    ),
    (0x87D0_0692, "Group policy conflict."),
    (
        0x87D0_1106,
        "Failed to verify the executable file is valid or to construct the associated command line.",
    ),
    (
        0x87D0_1201,
        "The content download cannot be performed because the total size of the content is larger than the client cache size.",
    ),
    (
        0x87D0_1202,
        "The content download cannot be performed because there is not enough available space in cache or the disk is full.",
    ),
];

/// The text of a code, when it is known. A Win32 error code written as a
/// plain number (`1603`, as msiexec exits) finds the text of its HRESULT
/// form (`0x80070643`).
///
/// ```text
/// describe(0x80070005) == Some("Access is denied.")
/// describe(1603)       == Some("Fatal error during installation.")
/// ```
pub(crate) fn describe(code: ErrorCode) -> Option<&'static str> {
    lookup(code.0).or_else(|| {
        (code.0 != 0 && code.0 <= 0xFFFF)
            .then(|| lookup(hresult_from_win32(code.0)))
            .flatten()
    })
}

fn lookup(code: u32) -> Option<&'static str> {
    KNOWN
        .binary_search_by_key(&code, |(c, _)| *c)
        .ok()
        .map(|i| KNOWN[i].1)
}

/// `HRESULT_FROM_WIN32(n)` for a Win32 error code `n <= 0xFFFF`.
fn hresult_from_win32(n: u32) -> u32 {
    0x8007_0000 | (n & 0xFFFF)
}

/// The parts of a 32-bit code read as an HRESULT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parts {
    /// Bit 31: 1 is a failure.
    pub severity: u32,
    /// Bit 29: set by non-Microsoft ("customer") codes.
    pub customer: bool,
    /// Bits 16..=26.
    pub facility: u32,
    /// Bits 0..=15.
    pub code: u32,
}

/// Splits a code into its HRESULT fields.
pub(crate) fn parts(code: ErrorCode) -> Parts {
    Parts {
        severity: code.0 >> 31,
        customer: code.0 & (1 << 29) != 0,
        facility: (code.0 >> 16) & 0x7FF,
        code: code.0 & 0xFFFF,
    }
}

/// The name of an HRESULT facility, for the ones deployments meet.
pub(crate) fn facility_name(facility: u32) -> Option<&'static str> {
    Some(match facility {
        0 => "NULL",
        1 => "RPC",
        2 => "DISPATCH",
        3 => "STORAGE",
        4 => "ITF (interface-specific, e.g. WMI)",
        7 => "WIN32",
        8 => "WINDOWS",
        9 => "SECURITY",
        10 => "CONTROL",
        11 => "CERT",
        12 => "INTERNET (WinINet/WinHTTP)",
        15 => "SETUPAPI",
        16 => "SCARD",
        17 => "COMPLUS",
        23 => "SXS",
        25 => "HTTP",
        32 => "BACKGROUNDCOPY (BITS)",
        33 => "CONFIGURATION",
        36 => "WINDOWSUPDATE",
        39 => "SHELL",
        80 => "WINDOWS_DEFENDER",
        0x7D0 => "Configuration Manager client",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_repeats_and_large_enough() {
        assert!(
            KNOWN.windows(2).all(|w| w[0].0 < w[1].0),
            "KNOWN must be sorted by code"
        );
        assert!(KNOWN.len() >= 60, "SPEC 7.6 / issue 15: at least 60 common codes");
        assert!(KNOWN.iter().all(|(_, t)| t.ends_with('.') || t.ends_with(')')));
    }

    #[test]
    fn spec_examples_and_win32_spellings() {
        assert_eq!(describe(ErrorCode(0x8007_0005)), Some("Access is denied."));
        assert_eq!(
            describe(ErrorCode(0x87D0_0324)),
            Some("The application was not detected after installation completed.")
        );
        assert_eq!(
            describe(ErrorCode(0x8007_0643)),
            Some("Fatal error during installation.")
        );
        assert_eq!(describe(ErrorCode(0x8000_4005)), Some("Unspecified error."));
        assert_eq!(describe(ErrorCode(1603)), describe(ErrorCode(0x8007_0643)));
        assert_eq!(describe(ErrorCode(5)), Some("Access is denied."));
        assert_eq!(describe(ErrorCode(0x1234_5678)), None);
    }

    #[test]
    fn hresult_parts() {
        let p = parts(ErrorCode(0x87D0_0324));
        assert_eq!(
            p,
            Parts {
                severity: 1,
                customer: false,
                facility: 0x7D0,
                code: 0x324
            }
        );
        let p = parts(ErrorCode(0x8007_0005));
        assert_eq!((p.severity, p.facility, p.code), (1, 7, 5));
        assert_eq!(facility_name(7), Some("WIN32"));
    }
}
