package dev.baomi.examples.loan;

import java.util.List;
import org.apache.ibatis.annotations.Insert;
import org.apache.ibatis.annotations.Mapper;
import org.apache.ibatis.annotations.Select;
import org.apache.ibatis.annotations.Update;

/** The platform's mapper, unchanged by Baomi: plain SQL over the entity's properties. */
@Mapper
public interface CustomerMapper {
  @Insert("INSERT INTO customer (id, name, id_number, mobile) VALUES (#{id}, #{name}, #{idNumber}, #{mobile})")
  int insert(Customer customer);

  @Update("UPDATE customer SET mobile = #{mobile} WHERE id = #{id}")
  int updateMobile(Customer customer);

  @Select("SELECT id, name, id_number, mobile FROM customer WHERE id = #{id}")
  Customer find(String id);

  @Select("SELECT id, name, id_number, mobile FROM customer ORDER BY id")
  List<Customer> all();
}
