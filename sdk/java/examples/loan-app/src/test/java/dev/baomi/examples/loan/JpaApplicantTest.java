package dev.baomi.examples.loan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.baomi.client.BaomiClient;
import dev.baomi.client.ErrorCodes;
import dev.baomi.client.model.Grant;
import dev.baomi.client.model.ViewKind;
import dev.baomi.client.testing.LocalServer;
import dev.baomi.spring.BaomiScope;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.transaction.support.TransactionTemplate;

/** The JPA side of the example against a real Baomi, as LoanApplicationTest does MyBatis's. */
@SpringBootTest(properties = {"logging.level.root=warn", "spring.main.banner-mode=off"})
class JpaApplicantTest {
  private static LocalServer server;

  @Autowired ApplicantRepository applicants;
  @Autowired JdbcTemplate jdbc;
  @Autowired BaomiClient baomi;
  @Autowired TransactionTemplate transactions;

  @DynamicPropertySource
  static void baomi(DynamicPropertyRegistry registry) {
    server = LocalServer.start((String) null);
    LoanApplicationTest.declare(server, registry);
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  @Test
  void anEntityIsWrittenSealedAndLoadedMaskedOrPlain() {
    Applicant saved = applicants.save(new Applicant("a-1", 50_000L, "11010519491231002X", "13800138000"));
    assertEquals("13800138000", saved.getMobile(), "the entity keeps its plaintext");
    Map<String, Object> row = jdbc.queryForMap("SELECT * FROM applicant WHERE id = 'a-1'");
    assertTrue(row.get("MOBILE").toString().startsWith("bm:v1:"));
    assertTrue(row.get("ID_NUMBER").toString().startsWith("bm:v1:"));

    assertEquals("138****8000", applicants.findById("a-1").orElseThrow().getMobile());
    Applicant plain = BaomiScope.plain(() -> applicants.findById("a-1").orElseThrow());
    assertEquals("11010519491231002X", plain.getIdNumber());
  }

  @Test
  void changingAnotherFieldKeepsTheEncryptedOnes() {
    applicants.save(new Applicant("a-2", 10_000L, "11010519491231002X", "13900139000"));
    String before = jdbc.queryForObject("SELECT mobile FROM applicant WHERE id = 'a-2'", String.class);
    transactions.executeWithoutResult(tx -> applicants.findById("a-2").orElseThrow().setAmount(20_000L));
    assertEquals(20_000L, jdbc.queryForObject("SELECT amount FROM applicant WHERE id = 'a-2'", Long.class));
    assertEquals(before, jdbc.queryForObject("SELECT mobile FROM applicant WHERE id = 'a-2'", String.class),
        "the masked mobile loaded with the entity was not written as a new one");
    transactions.executeWithoutResult(tx -> applicants.findById("a-2").orElseThrow().setMobile("13700137000"));
    assertNotEquals(before, jdbc.queryForObject("SELECT mobile FROM applicant WHERE id = 'a-2'", String.class));
    assertEquals("13700137000", BaomiScope.plain(() -> applicants.findById("a-2").orElseThrow()).getMobile());
  }

  @Test
  void aWithdrawnConsentRefusesTheLoad() {
    applicants.save(new Applicant("a-3", 1_000L, "11010519491231002X", "13500135000"));
    baomi.grantConsent("a-3", Grant.of("app", "opt-in switch", "marketing"));
    assertEquals("13500135000",
        BaomiScope.under("marketing", ViewKind.PLAIN, () -> applicants.findById("a-3").orElseThrow()).getMobile());
    baomi.withdrawConsent("a-3", "marketing");
    RuntimeException refused = assertThrows(RuntimeException.class,
        () -> BaomiScope.under("marketing", ViewKind.PLAIN, () -> applicants.findById("a-3").orElseThrow()));
    assertEquals(ErrorCodes.CONSENT_WITHDRAWN, LoanApplicationTest.causeOf(refused).code());
  }
}
